"""A stand-in for a card payment service (デモ用の決済サービス), speaking a subset of Stripe's API.

Run it as its own process::

    python -m tenohira.standins.payment_service --host 127.0.0.1 --port 8002 \\
        --secret-key sk_test_demo --webhook-secret whsec_demo \\
        --webhook-url http://127.0.0.1:8000/pay/webhooks/stripe_card/

It prints one line, `ready <base url>`, once it accepts connections (with `--port 0` the
system picks a free port, which that line names). The real `stripe` SDK talks to it when
its API base is that URL, so the adapter tested against it is the adapter a real
installation runs. See `app.py` for the endpoints and docs/payments-standin.md.
"""
