"""Stand-ins: small, real services that play the part of outside systems Tenohira talks to.

A municipality connects Tenohira to services it cannot run itself (the Digital Agency's
デジタル認証アプリ for the My Number card, for one). The demo and the tests need something
on the other end of those connections that speaks the same protocol, over real HTTP, in a
separate process, so that the code talking to it is the code a real installation runs.

Each stand-in says plainly on every page that it is a demo stand-in and not the real
service. None of them is part of a production installation: they hold fictional people
only, keep their state in memory or a scratch directory, and offer test-only controls
(fault injection) on loopback addresses.
"""
