from django.apps import AppConfig


class FormsConfig(AppConfig):
    name = "tenohira.forms"
    label = "forms"
    verbose_name = "申請フォーム"
