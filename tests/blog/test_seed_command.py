import pytest
from django.core.management import CommandError, call_command

from blog import seed
from blog.models import Dataset


def test_seed_blog_seeds_and_prints_the_digest(db: None, capsys: pytest.CaptureFixture[str]) -> None:
    call_command("seed_blog", "--size", "tiny", "--seed", "3")
    out = capsys.readouterr().out
    dataset = seed.live_dataset()
    assert dataset is not None
    assert (dataset.size, dataset.seed) == ("tiny", 3)
    assert f"digest {dataset.digest}" in out


def test_if_empty_does_not_reseed_a_blog_with_data(tiny: Dataset) -> None:
    call_command("seed_blog", "--size", "small", "--if-empty")
    assert seed.live_dataset() == tiny


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--size", "huge"], "invalid choice: 'huge'"),
        (["--seed", "-1"], "seed must be a non-negative integer, got '-1'"),
        (["--seed", "abc"], "seed must be a non-negative integer, got 'abc'"),
    ],
)
def test_bad_input_gets_a_clear_message_and_changes_nothing(
    tiny: Dataset, args: list[str], message: str
) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("seed_blog", *args)
    assert seed.dataset_digest() == tiny.digest
    assert Dataset.objects.count() == 1


def test_a_seed_that_cannot_be_written_says_so_and_changes_nothing(
    tiny: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    generate = seed.generate

    def repeated_tag(size: str, number: int) -> seed.Rows:
        rows = generate(size, number)
        rows.tags[1] = (rows.tags[1][0], *rows.tags[0][1:])
        return rows

    monkeypatch.setattr(seed, "generate", repeated_tag)
    with pytest.raises(
        CommandError, match="Seeding failed and changed nothing: blog_tag: 8 rows generated, 7 stored"
    ):
        call_command("seed_blog", "--size", "tiny", "--seed", "2")
    assert seed.dataset_digest() == tiny.digest
