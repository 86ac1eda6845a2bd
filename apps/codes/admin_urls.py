"""The codes app's own admin pages, under /admin/codes/… (included before the admin's own URLs)."""

from django.contrib import admin
from django.urls import path

from . import views

urlpatterns = [
    path("codes/apply/", admin.site.admin_view(views.apply_view), name="codes-apply"),
    path("codes/generate/", admin.site.admin_view(views.generate_view), name="codes-generate"),
    path("codes/generate/codes.csv", admin.site.admin_view(views.generated_csv_view), name="codes-generated-csv"),
    path("codes/generate/jobs/<int:pk>/", admin.site.admin_view(views.generate_job_view), name="codes-generate-job"),
    path("codes/batch/", admin.site.admin_view(views.batch_view), name="codes-batch"),
    path("codes/log/", admin.site.admin_view(views.log_view), name="codes-log"),
    path("codes/notices/<int:delivery_id>/dismiss/", admin.site.admin_view(views.dismiss_notice_view),
         name="codes-dismiss-notice"),
]
