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


def test_app_configs_help_has_no_section_titles_or_lead_ins_glued_on():
    # a comment-only line continues the field above it: a section title ("# model") or a
    # lead-in to the next field written without a blank line before it ends up in the wrong
    # flag's help
    from rnnkit.apps.classify.config import Config as ClassifyConfig
    from rnnkit.apps.forecast.config import Config as ForecastConfig

    forecast = field_comments(ForecastConfig)
    assert not forecast["period"].endswith("model")
    assert not forecast["point_loss"].endswith("training")
    classify = field_comments(ClassifyConfig)
    assert "held-out accuracy" not in classify["patience"].split("0: never")[1]
    assert "held-out part picked" in classify["refit"]


def test_classify_help_names_both_kinds_defaults():
    from rnnkit.apps.classify.config import KIND_DEFAULTS, Config

    comments = field_comments(Config)
    for key, text in KIND_DEFAULTS["text"].items():
        numeric = KIND_DEFAULTS["numeric"][key]
        shown = [f"({'both' if text == numeric else f'text {text:g}'}"] if isinstance(
            text, float) else [f"text {text}"]
        if text != numeric:
            shown.append(f"numeric {numeric:g}" if isinstance(numeric, float)
                         else f"numeric {numeric}")
        for part in shown:
            assert part.lstrip("(") in comments[key], (key, part, comments[key])


def test_kind_dependent_defaults_say_so_in_help():
    # classify's None fields are resolved per input kind: --help says so instead of "none"
    import argparse

    from rnnkit.cli.classify import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    train = parser._subparsers._group_actions[0].choices["classify"]._subparsers \
        ._group_actions[0].choices["train"]
    helps = {a.dest: a.help for a in train._actions}
    assert helps["epochs"].endswith("(default: by input kind)")
    assert helps["hidden_size"].endswith("(default: 64)")
