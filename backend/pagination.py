"""Page-number pagination: ``{count, next, previous, results}``, ``page_size`` at most 100."""

from rest_framework import pagination
from rest_framework.exceptions import ValidationError


class PageNumberPagination(pagination.PageNumberPagination):
    """Pages of 20 by default; clients may ask up to 100 with ``page_size``."""

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_size(self, request):
        # DRF ignores a page_size that is not a number (``?page_size=null``): the schema says
        # integer, so a client sending anything else has a bug and hears about it.
        value = request.query_params.get(self.page_size_query_param)
        if value is not None:
            try:
                int(value.strip())
            except ValueError:
                raise ValidationError({self.page_size_query_param: ["请填写整数。"]}) from None
        return super().get_page_size(request)

    def get_page_number(self, request, paginator):
        # DRF reads ``?page=`` as page 1; an empty page is a client bug like page_size=null.
        if request.query_params.get(self.page_query_param) == "":
            raise ValidationError({self.page_query_param: ["请填写整数页码。"]})
        return super().get_page_number(request, paginator)
