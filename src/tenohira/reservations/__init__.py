"""Reservations: resources, slots, bookings, lotteries, waiting lists, counter congestion."""
