from django.conf import settings


def municipality(request):
    return {"municipality_name": settings.MUNICIPALITY_NAME, "demo_mode": settings.DEMO}
