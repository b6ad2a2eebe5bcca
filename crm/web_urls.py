from django.urls import path

app_name = "crm"
urlpatterns = []
