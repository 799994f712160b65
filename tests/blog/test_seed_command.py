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
