"""Moving Progress and Snippet from the sandbox app to the exercises app loses no row."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("sandbox", "0002_progress_of_accounts_and_drafts"), ("exercises", None)]
AFTER = [("sandbox", "0003_models_moved_to_exercises"), ("exercises", "0002_snippet_models")]


def migrate(targets: list[tuple[str, str | None]]) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


@pytest.mark.django_db(transaction=True)
def test_learners_rows_written_before_the_move_are_the_exercises_apps_after_it() -> None:
    try:
        migrate(BEFORE)
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO sandbox_progress (session_key, exercise, attempts, passed, last_failure, draft, tried, "
                "updated_at) VALUES ('k', 'has-drafts', 2, %s, '', 'print(1)', '[]', CURRENT_TIMESTAMP)",
                [True],
            )
            cursor.execute(
                "INSERT INTO sandbox_snippet (id, code, result, created_at) "
                "VALUES ('abc', 'print(2)', '{}', CURRENT_TIMESTAMP)"
            )
        migrate(AFTER)
        from exercises.models import Progress, Snippet

        record = Progress.objects.get()
        assert (record.session_key, record.exercise, record.attempts, record.passed, record.draft) == (
            "k",
            "has-drafts",
            2,
            True,
            "print(1)",
        )
        shared = Snippet.objects.get(pk="abc")
        assert (shared.code, shared.models) == ("print(2)", "")  # shared before own models: none
    finally:
        migrate(AFTER)
