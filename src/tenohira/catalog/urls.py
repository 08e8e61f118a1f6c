from django.urls import path

from tenohira.catalog import views

app_name = "catalog"

urlpatterns = [
    path("", views.home, name="home"),
    path("search/", views.search, name="search"),
    path("departments/", views.department_list, name="departments"),
    path("departments/<int:pk>/", views.department_detail, name="department"),
    path("sections/<int:pk>/", views.section_detail, name="section"),
    path("life-events/", views.life_event_list, name="life_events"),
    path("life-events/<slug:slug>/", views.life_event_detail, name="life_event"),
    path("procedures/<str:code>/", views.procedure_detail, name="procedure"),
]
