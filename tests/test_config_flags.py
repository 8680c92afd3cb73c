"""``--help`` text for a Config's fields comes from the comments beside them."""

import re
from dataclasses import dataclass

import pytest

from rnnkit.cli.config_flags import field_comments, flags_named


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
        if text == numeric:  # one default: --help shows it as any other (next test)
            continue
        shown = [f"(text {text:g}"] if isinstance(text, float) else [f"text {text}"]
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
    assert helps["ema"].endswith("0: off (default: 0.0)")  # the same for both kinds


def test_check_messages_name_the_flag_the_user_typed():
    words = ["classify", "train", "--batch-size=0", "--class-weights", "x", "--lr", "2"]
    assert flags_named("classify Config: batch_size must be a positive integer, got 0",
                       words) == "--batch-size must be a positive integer, got 0"
    assert flags_named("anomaly: class_weights needs 2 numbers", words) == \
        "--class-weights needs 2 numbers"
    # a field the user did not type came from elsewhere (a default, a checkpoint): kept
    assert flags_named("classify Config: epochs must be a positive integer, got 0", words) == \
        "classify Config: epochs must be a positive integer, got 0"
    # the name inside a quoted value or another word is not the subject
    assert flags_named("cell must be one of lstm, gru, got 'lr must'", words) == \
        "cell must be one of lstm, gru, got 'lr must'"
    assert flags_named("clr must be positive", words) == "clr must be positive"


def test_cli_config_errors_name_flags(tmp_path, capsys):
    from rnnkit.cli.main import main

    data = tmp_path / "s.csv"
    data.write_text("1,0.1,0.2,0.3\n2,0.3,0.2,0.1\n")
    assert main(["classify", "train", "--ucr", str(data), "--checkpoint",
                 str(tmp_path / "ck"), "--crop", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("rnnkit classify train: error: --crop must lie in (0, 1]"), err
    assert not (tmp_path / "ck").exists()
    assert flags_named("empty text (example 1 of --text)", ["--text", "a"]) == \
        "empty text (example 1 of --text)"
    assert flags_named("anomaly: holdoff (9) must not exceed window", ["--holdoff", "9"]) == \
        "--holdoff (9) must not exceed window"


def test_classify_kind_only_settings_match_their_help():
    """TEXT_ONLY / NUMERIC_ONLY (left out of a run's `config:` line) are exactly the fields
    whose help says "text:" / "numeric:"."""
    from rnnkit.apps.classify.config import NUMERIC_ONLY, TEXT_ONLY, Config

    comments = field_comments(Config)
    for prefix, names in (("text:", TEXT_ONLY), ("numeric:", NUMERIC_ONLY)):
        assert sorted(names) == sorted(k for k, v in comments.items() if v.startswith(prefix))
    numeric, text = Config().read_by("numeric"), Config().read_by("text")
    assert "conv_channels" in numeric and "embedding_dim" not in numeric
    assert "embedding_dim" in text and "conv_channels" not in text
    assert "hidden_size" in numeric and "hidden_size" in text


def test_settings_spelled_as_words_are_named_by_their_flag_too():
    words = ["textgen", "sample", "--top-k", "0", "--repetition-penalty", "-1"]
    assert flags_named("top-k must be an integer >= 1, got 0", words) == \
        "--top-k must be an integer >= 1, got 0"
    assert flags_named("repetition penalty must be a finite number > 0 (1 = none), got -1",
                       words) == "--repetition-penalty must be a finite number > 0 (1 = none), got -1"
    assert flags_named("anomaly: short_window acts on streams; this checkpoint scores sequences",
                       ["--short-window", "5"]) == \
        "--short-window acts on streams; this checkpoint scores sequences"
    # a quoted value after the name is not enough: "checkpoint '/x' is not ..." stays as it is
    assert flags_named("checkpoint '/x' is not a translation model", ["--checkpoint", "/x"]) \
        == "checkpoint '/x' is not a translation model"


def test_resume_and_tokenizer_messages_name_the_flag_too():
    words = ["classify", "train", "--hidden-size", "16", "--min-freq", "1000"]
    assert flags_named("fit: cannot resume from ck: the setting hidden_size "
                       "(config.hidden_size) was 8 in that run and is 16 now", words) == \
        "fit: cannot resume from ck: the setting --hidden-size was 8 in that run and is 16 now"
    assert flags_named("WordTokenizer.fit: no token occurs at least min_freq=1000 times in "
                       "the text", words) == \
        "no token occurs at least --min-freq 1000 times in the text"
    # not typed: the stored path stays, it says where the setting came from
    assert flags_named("fit: cannot resume from ck: the setting cell (config.cell) was "
                       "'gru' in that run", words).endswith("cell (config.cell) was 'gru' in that run")


def test_number_lists_take_spaces_or_commas():
    import argparse

    from rnnkit.apps.forecast import Config as ForecastConfig
    from rnnkit.cli.config_flags import add_config_flags, config_from_args

    parser = argparse.ArgumentParser()
    add_config_flags(parser, ForecastConfig)
    for words in (["0.2", "0.5", "0.8"], ["0.2,0.5,0.8"], ["0.2,0.5", "0.8"]):
        args = parser.parse_args(["--quantiles", *words])
        assert list(config_from_args(ForecastConfig, args).quantiles) == [0.2, 0.5, 0.8]
    with pytest.raises(SystemExit):  # a word that is not a number is still refused
        parser.parse_args(["--quantiles", "0.2,x"])


def _all_parsers():
    """Every parser of the command line, by its words (``("anomaly", "train")``)."""
    import argparse

    from rnnkit.cli.main import build_parser

    todo, found = [((), build_parser())], {}
    while todo:
        words, parser = todo.pop()
        found[words] = parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                todo += [((*words, name), sub) for name, sub in action.choices.items()]
    return found


def test_every_help_states_a_default_once_and_required_flags_none():
    """A comment that says its default ("(default: the first column)") gets no second
    "(default: none)"; a setting with nothing to fall back on says "(required)"."""
    doubled, required_with_default = [], []
    for words, parser in _all_parsers().items():
        for action in parser._actions:
            text = action.help or ""
            if len(re.findall(r"\(default\b", text)) > 1:  # `grep "(default: .*(default:"`
                doubled.append((" ".join(words), action.option_strings, text))
            if action.required and "default" in text:
                required_with_default.append((" ".join(words), action.option_strings, text))
    assert not doubled
    assert not required_with_default
    train = _all_parsers()[("anomaly", "train")]
    helps = {a.dest: a.help for a in train._actions}
    assert helps["time_col"] == ("stream: the timestamp column (default: the first column; a "
                                 "file of one column has none: its rows are the steps)")
    assert helps["normal_label"] == "sequences: the normal class (default: the most common)"
    assert helps["data"] == ("training CSV: a stream (time + value columns) or sequences (one "
                             "per row, or the archive's .ts file) (required)")
    assert helps["window"].endswith("(default: 32)")  # a plain one keeps its default
    regress = {a.dest: a.help for a in _all_parsers()[("regress", "train")]._actions}
    assert regress["target"] == "the CSV column to predict (required)"


@dataclass
class _Stated:
    path: str = ""  # where the data is
    col: str | None = None  # a column (default: the first one)
    size: int = 3  # how many


def test_add_config_flags_adds_no_default_a_comment_states():
    import argparse

    from rnnkit.cli.config_flags import add_config_flags

    parser = argparse.ArgumentParser()
    add_config_flags(parser, _Stated)
    helps = {a.dest: a.help for a in parser._actions}
    assert helps == {"help": "show this help message and exit",
                     "path": "where the data is (required)",
                     "col": "a column (default: the first one)", "size": "how many (default: 3)"}


def test_a_message_that_names_the_flag_keeps_its_python_spelling_too():
    # "pass empty='skip' / --empty skip" says both ways already: not "--empty 'skip' / --empty"
    message = "line 3 of the source is empty (pass empty='skip' / --empty skip to skip it)"
    assert flags_named(message, ["translate", "train", "--empty", "error"]) == message
