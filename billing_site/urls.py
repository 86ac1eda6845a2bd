from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from django.views.i18n import JavaScriptCatalog
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView

from apps.core import jobs
from apps.core import views as core_views

# "dashboard" before "codes": its api/v1/codes/forecast/ would otherwise be read as a code's address.
DOMAIN_APPS = ("accounts", "plans", "services", "units", "dashboard", "codes", "discounts")

# A restricted distributor's home is "Apply a code" (issue 15): the admin's index answers it with a redirect.
admin.site.index = core_views.admin_home(admin.site.index)

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    # Custom pages (discount module, apply a code, …) live under /admin/ so they share its login and look.
    *[path("admin/", include(f"apps.{app}.admin_urls")) for app in DOMAIN_APPS],
    path("admin/jobs/", admin.site.admin_view(jobs.scheduled_jobs_view), name="scheduled-jobs"),
    # The site's own JavaScript strings and the language's formats (domain djangojs of locale/; the admin's
    # jsi18n serves only the admin's): ``<script src="{% url 'site-jsi18n' %}">`` gives gettext() and get_format().
    path("admin/jsi18n/site/", admin.site.admin_view(JavaScriptCatalog.as_view()), name="site-jsi18n"),
    path("admin/", admin.site.urls),
    *[path("api/v1/", include(f"apps.{app}.api_urls")) for app in DOMAIN_APPS],
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", core_views.api_docs_view, name="api-docs"),
]

handler403 = "apps.core.views.permission_denied"

admin.site.site_header = _("Telematics billing")
admin.site.site_title = _("Telematics billing")
admin.site.index_title = _("Back office")
