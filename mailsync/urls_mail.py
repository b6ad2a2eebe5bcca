from django.urls import path

from mailsync.views import mail as views

app_name = "mail"

urlpatterns = [
    path("messages/<int:pk>/", views.message_detail, name="message"),
    path("messages/<int:pk>/eml/", views.message_eml, name="message_eml"),
    path("messages/<int:pk>/remove/", views.message_remove, name="message_remove"),
    path("messages/<int:pk>/add/", views.message_add, name="message_add"),
    path("attachments/<int:pk>/", views.attachment_download, name="attachment"),
    path(
        "attachments/<int:pk>/inline/<str:token>/",
        views.attachment_inline,
        name="attachment_inline",
    ),
    path("threads/<int:pk>/remove/", views.thread_remove, name="thread_remove"),
    path("threads/<int:pk>/add/", views.thread_add, name="thread_add"),
    path("threads/<int:pk>/deal/", views.thread_deal, name="thread_deal"),
    path("threads/<int:pk>/visibility/", views.thread_visibility, name="thread_visibility"),
    path("deals-to-choose/", views.deals_to_choose, name="deals_to_choose"),
    path("deals/<int:pk>/address/", views.deal_address_create, name="deal_address_create"),
]
