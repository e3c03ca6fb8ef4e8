import pytest

from modelyard.exceptions import InvalidParameterValue
from modelyard.jobs.spec import parse

YAML = """
name: churn-refresh
schedule: {cron: "0 3 * * *", timezone: Europe/Berlin, catch_up: latest}
triggers:
  - on: feature_table_updated
    table: churn.customer_features
max_concurrent_runs: 1
tasks:
  - key: build
    run: mypkg.pipeline:build_training_set
    params: {days: 90}
  - key: train
    depends_on: [build]
    run: mypkg.pipeline:train
    retries: {max: 2, backoff_seconds: 30}
    timeout_seconds: 3600
notify: {on_failure: ["https://hooks.example.org/ml"]}
"""


def test_the_issue_example_parses():
    spec = parse(YAML)
    assert spec.order() == ["build", "train"]
    assert spec.task("train").retries.max == 2
    assert spec.schedule.timezone == "Europe/Berlin"
    assert spec.triggers[0].table == "churn.customer_features"


def test_a_cycle_is_refused_naming_it():
    with pytest.raises(InvalidParameterValue, match="cycle: .*a.*b|cycle: .*b.*a"):
        parse({"name": "j", "tasks": [
            {"key": "a", "run": "m:f", "depends_on": ["b"]},
            {"key": "b", "run": "m:f", "depends_on": ["a"]},
        ]})


def test_an_unknown_dependency_is_refused():
    with pytest.raises(InvalidParameterValue, match="task 'b' depends on unknown task\\(s\\) 'nope'"):
        parse({"name": "j", "tasks": [{"key": "a", "run": "m:f"}, {"key": "b", "run": "m:f", "depends_on": ["nope"]}]})


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ({"name": "j", "tasks": [{"key": "a", "run": "m:f", "retry": 3}]}, "tasks.0.retry: unknown field"),
        ({"name": "j", "tasks": [{"key": "a", "run": "m:f"}], "schedul": {}}, "schedul: unknown field"),
        ({"name": "j", "tasks": [{"key": "a", "run": "nocolon"}]}, "neither 'module:function' nor a command"),
        ({"name": "j", "schedule": {"cron": "61 * * * *"}, "tasks": [{"key": "a", "run": "m:f"}]}, "not a valid cron"),
        ({"name": "j", "schedule": {"cron": "* * * * *", "timezone": "Mars/Base"}, "tasks": [{"key": "a", "run": "m:f"}]}, "unknown time zone"),
        ({"name": "j", "schedule": {"cron": "* * * * *", "catch_up": "some"}, "tasks": [{"key": "a", "run": "m:f"}]}, "catch_up"),
        ({"name": "j", "tasks": [{"key": "a", "run": "m:f"}, {"key": "a", "run": "m:g"}]}, "used twice: a"),
        ({"name": "j", "tasks": []}, "has no tasks"),
        ({"name": "j", "tasks": [{"key": "a", "run": "m:f"}], "triggers": [{"on": "rain"}]}, "triggers.0.on"),
    ],
)
def test_bad_definitions_are_refused_naming_the_field(definition, message):
    with pytest.raises(InvalidParameterValue, match=message):
        parse(definition)


def test_not_yaml_is_refused():
    with pytest.raises(InvalidParameterValue, match="not valid YAML"):
        parse("name: [unclosed")


def test_overrides_apply_to_job_and_task_parameters_and_unknown_ones_are_refused():
    spec = parse({"name": "j", "parameters": {"region": "eu"}, "tasks": [{"key": "a", "run": "m:f", "params": {"days": 90}}]})
    assert spec.params_for("a", {"days": 30}) == {"region": "eu", "days": 30}
    with pytest.raises(InvalidParameterValue, match="Unknown parameter\\(s\\) dayz"):
        spec.check_overrides({"dayz": 1})


def expand_echo(section, job):  # a job type of this test: its section becomes one task
    return {"key": section.get("key", "echo"), "run": "jobtasks:noop", "params": {"text": section["text"]},
            "depends_on": section.get("after", [])}


def test_a_job_type_section_becomes_a_task_of_the_job(monkeypatch):
    from modelyard import plugins

    monkeypatch.setitem(plugins.JOB_TYPES, "echo", "test_spec:expand_echo")
    spec = parse({"name": "j", "tasks": [{"key": "a", "run": "m:f"}], "echo": {"text": "hi", "after": ["a"]}})
    assert [t.key for t in spec.tasks] == ["a", "echo"] and spec.task("echo").depends_on == ["a"]
    assert spec.order() == ["a", "echo"] and spec.task("echo").params == {"text": "hi"}
    only = parse({"name": "j", "echo": {"text": "alone"}})  # a job of its type alone needs no tasks list
    assert [t.key for t in only.tasks] == ["echo"]
    assert parse(only.to_dict()) == only  # what is stored parses back to the same job
    with pytest.raises(InvalidParameterValue, match="echo: must be a mapping"):
        parse({"name": "j", "echo": "hi"})
    with pytest.raises(InvalidParameterValue, match="unknown field"):
        parse({"name": "j", "tasks": [{"key": "a", "run": "m:f"}], "ech": {"text": "x"}})
