"""``--help`` text for a Config's fields comes from the comments beside them."""

from dataclasses import dataclass

from rnnkit.cli.config_flags import field_comments


@dataclass
class _Example:
    alpha: int = 1  # the first field
    beta: float = 0.5  # a comment that goes on
    # over two lines

    # a section comment after a blank line belongs to no field
    gamma: str = "x"
    delta: bool = False  # last

    def method(self):
        # a comment inside a method belongs to no field
        return self.alpha


def test_field_comments_join_continuation_lines_and_stop_at_blank_lines():
    assert field_comments(_Example) == {
        "alpha": "the first field",
        "beta": "a comment that goes on over two lines",
        "delta": "last",
    }
