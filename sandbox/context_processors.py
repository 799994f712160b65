from django.http import HttpRequest

from sandbox.worker import confine


def isolation_level(request: HttpRequest) -> dict[str, str]:
    return {"isolation": confine.level()}
