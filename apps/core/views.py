"""Site-wide pages of the core app: the admin home switch, the refused page, the API docs' sign-in."""

from django.contrib import admin
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from . import rights


def admin_home(index):
    """The admin home: a restricted distributor's only page is "Apply a code", so that is its home; everyone
    else gets the admin's ``index`` (the dashboard)."""

    def home(request, extra_context=None):
        if rights.allows(rights.HOME_IS_APPLY_CODE, request.user):
            return redirect("codes-apply")
        return index(request, extra_context)

    return home


def permission_denied(request, exception=None):
    """403: the API keeps its JSON error shape; every other page is the admin's styled page with a way back."""
    from django.http import JsonResponse

    if request.path.startswith("/api/"):
        return JsonResponse({"detail": _("You do not have permission to perform this action."),
                             "code": "permission_denied"}, status=403)
    context = {"title": _("Not allowed"), "site_header": admin.site.site_header, "site_title": admin.site.site_title,
               "reason": str(exception) if exception and str(exception) else ""}
    if request.user.is_authenticated:
        context.update(admin.site.each_context(request))
    return TemplateResponse(request, "403.html", context, status=403)


def _sign_in_page(request):
    from django.http import HttpResponse
    from django.template.loader import render_to_string

    login = "/admin/login/?" + urlencode({"next": request.get_full_path()})
    html = render_to_string("api_sign_in.html", {
        "title": _("Sign in to read the API documentation"), "login_url": login,
        "site_header": admin.site.site_header, "site_title": admin.site.site_title}, request=request)
    return HttpResponse(html, status=401)


def _docs_view_class():
    from drf_spectacular.views import SpectacularSwaggerView
    from rest_framework.exceptions import NotAuthenticated

    class SwaggerWithSignIn(SpectacularSwaggerView):
        """The API docs (Swagger UI): an anonymous visitor is asked to sign in (the admin's login, back here
        after) instead of a bare 401; signed in (session or token), the docs."""

        def handle_exception(self, exc):
            if isinstance(exc, NotAuthenticated):
                return _sign_in_page(self.request._request)
            return super().handle_exception(exc)

    return SwaggerWithSignIn


def api_docs_view(request, *args, **kwargs):
    return _docs_view_class().as_view(url_name="schema")(request, *args, **kwargs)
