from django.http import HttpRequest

from sandbox import isolation


def isolation_level(request: HttpRequest) -> dict[str, str]:
    return {"isolation": isolation.level()}
