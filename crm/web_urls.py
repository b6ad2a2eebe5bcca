from django.urls import path

from crm import views, views_csv
from crm.models import RECORD_PLURALS

app_name = "crm"

urlpatterns = [
    path("", views.DashboardView.as_view(), name="dashboard"),
    path("search/", views.search, name="search"),
    path("deals/board/", views.deal_board, name="deal_board"),
    path("deals/<int:pk>/move/", views.deal_move, name="deal_move"),
    path("deals/<int:pk>/close/", views.deal_close, name="deal_close"),
    path("deals/<int:pk>/reopen/", views.deal_reopen, name="deal_reopen"),
    path("leads/<int:pk>/convert/", views.lead_convert, name="lead_convert"),
    path("tasks/", views.task_list, name="task_list"),
    path("tasks/<int:pk>/toggle/", views.task_toggle, name="task_toggle"),
    path("import/<slug:kind>/", views_csv.csv_import, name="csv_import"),
    path("export/<slug:kind>.csv", views_csv.csv_export, name="csv_export"),
    path("export/<slug:kind>/job/", views_csv.csv_export_start, name="csv_export_start"),
    path("csv-jobs/<int:pk>/", views_csv.csv_job, name="csv_job"),
    path("csv-jobs/<int:pk>/download/", views_csv.csv_job_download, name="csv_job_download"),
]

for kind, prefix in RECORD_PLURALS.items():
    kw = {"kind": kind}
    urlpatterns += [
        path(f"{prefix}/", views.RecordListView.as_view(kind=kind), name=f"{kind}_list"),
        path(f"{prefix}/new/", views.record_create, kw, name=f"{kind}_create"),
        path(f"{prefix}/<int:pk>/", views.record_detail, kw, name=f"{kind}_detail"),
        path(f"{prefix}/<int:pk>/edit/", views.record_edit, kw, name=f"{kind}_edit"),
        path(f"{prefix}/<int:pk>/delete/", views.record_delete, kw, name=f"{kind}_delete"),
        path(f"{prefix}/<int:pk>/notes/", views.note_add, kw, name=f"{kind}_note_add"),
        path(f"{prefix}/<int:pk>/tasks/", views.task_add, kw, name=f"{kind}_task_add"),
    ]
