"""End URIs: the scheme picks the implementation, bad URIs and flags are clear errors (no service needed)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from modelyard.cli.main import cli
from modelyard.exceptions import InvalidParameterValue
from modelyard.streaming.config import StreamConfig
from modelyard.streaming.sinks.delta import DeltaSink
from modelyard.streaming.sinks.parquet import ParquetSink
from modelyard.streaming.sinks.sql import SqlTableSink
from modelyard.streaming.sources.files import FolderSource
from modelyard.streaming.sources.redis import RedisStreamSource
from modelyard.streaming.uris import open_sink, open_source, redact


def test_the_scheme_picks_the_end():
    assert isinstance(open_source("redis://h:6379/0?stream=s&group=g", consumer="c"), RedisStreamSource)
    assert isinstance(open_source("file:///tmp/in"), FolderSource)
    assert isinstance(open_sink("sqlite:////tmp/p.db?table=t"), SqlTableSink)
    assert isinstance(open_sink("parquet:///tmp/out"), ParquetSink)
    assert isinstance(open_sink("delta:///tmp/out"), DeltaSink)


def test_an_unknown_scheme_names_the_known_ones():
    with pytest.raises(InvalidParameterValue, match="No stream source for URI scheme 'kafka'; known schemes: amqp"):
        open_source("kafka://h:9092?topic=t", consumer="c")


def test_a_missing_option_is_named_and_the_password_is_hidden():
    with pytest.raises(InvalidParameterValue) as info:
        open_source("redis://:s3cret@h:6379/0?stream=s", consumer="c")
    assert "needs the option '?group=...'" in info.value.message and "s3cret" not in info.value.message
    assert redact("amqp://guest:guest@h:5672/%2f?queue=q") == "amqp://guest:***@h:5672/%2f?queue=q"


def test_bad_settings_are_refused():
    with pytest.raises(InvalidParameterValue, match="--format must be one of json, parquet, arrow"):
        StreamConfig("m", "redis://h?stream=s&group=g", "redis://h?stream=o", format="avro")
    with pytest.raises(InvalidParameterValue, match="--max-retries must be at least 1"):
        StreamConfig("m", "redis://h?stream=s&group=g", "redis://h?stream=o", max_retries=0)


def test_the_cli_reports_a_bad_source_in_one_line(tmp_path):
    result = CliRunner().invoke(cli, ["models", "stream", "-m", str(tmp_path), "--source", "kafka://h:9092",
                                      "--sink", f"sqlite:///{tmp_path}/p.db?table=t"])
    assert result.exit_code == 1
    assert result.output.strip().startswith("Error: INVALID_PARAMETER_VALUE: No stream source for URI scheme 'kafka'")
    assert "Traceback" not in result.output
