"""Authenticator devices (TOTP) created, changed or deleted by any path — the admin, a
set-up script, the shell — go into the audit chain. A sign-in also saves the device (its
last time step, throttling), so only the fields that decide who can sign in count as a
change; their values (the key above all) are never recorded."""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save, pre_save

WATCHED = ("user_id", "name", "confirmed", "key", "step", "t0", "digits", "tolerance")


def _changed(sender, instance, **kwargs):
    instance._tenohira_audit_changed = []
    if instance.pk is None:
        return
    before = sender.objects.filter(pk=instance.pk).values(*WATCHED).first()
    if before is not None:
        instance._tenohira_audit_changed = [
            name.removesuffix("_id") for name in WATCHED if before[name] != getattr(instance, name)
        ]


def _saved(sender, instance, created, **kwargs):
    from tenohira.audit.services import record

    fields = getattr(instance, "_tenohira_audit_changed", [])
    if created or fields:
        record("otp_device_create" if created else "otp_device_change", target=f"otp:{instance.pk}",
               detail={"owner": instance.user.get_username(), **({} if created else {"fields": fields})})


def _deleted(sender, instance, **kwargs):
    from tenohira.audit.services import record

    record("otp_device_delete", target=f"otp:{instance.pk}", detail={"owner": instance.user.get_username()})


def connect() -> None:
    from django_otp.plugins.otp_totp.models import TOTPDevice

    pre_save.connect(_changed, sender=TOTPDevice, dispatch_uid="audit_otp_changed")
    post_save.connect(_saved, sender=TOTPDevice, dispatch_uid="audit_otp_saved")
    post_delete.connect(_deleted, sender=TOTPDevice, dispatch_uid="audit_otp_deleted")
