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


@pytest.fixture
def demo_job_type():
    """A job type ``demo:`` standing for two tasks (what ``retrain:`` does through the same seam)."""
    from modelyard.jobs import kinds

    def expand(section, definition):
        if not isinstance(section, dict) or "model" not in section:
            raise ValueError("needs a model")
        return [
            {"key": "prepare", "run": "mypkg.demo:prepare", "params": {"model": section["model"]}},
            {"key": "train", "run": "mypkg.demo:train", "depends_on": ["prepare"]},
        ]

    kinds.register_job_type("demo", expand)
    yield "demo"
    kinds.JOB_TYPES.pop("demo", None)


def test_a_job_type_section_stands_for_its_tasks_and_is_stored_as_written(demo_job_type):
    spec = parse({"name": "j", "demo": {"model": "churn"},
                  "tasks": [{"key": "report", "run": "mypkg.demo:report", "depends_on": ["train"]}]})
    assert spec.order() == ["prepare", "train", "report"]
    assert spec.task("prepare").params == {"model": "churn"}
    assert spec.task("prepare").job_type == "demo" and spec.task("report").job_type is None
    stored = spec.to_dict()
    assert stored["demo"] == {"model": "churn"} and "sections" not in stored
    again = parse(stored)  # the stored form parses to the same job, its tasks made once
    assert again == spec and again.to_json() == spec.to_json()


def test_a_bad_job_type_section_is_refused_naming_it(demo_job_type):
    with pytest.raises(InvalidParameterValue, match="demo: needs a model"):
        parse({"name": "j", "demo": {"other": 1}})


def test_task_kinds_tell_forked_functions_from_executed_commands():
    from modelyard.jobs.kinds import TASK_KINDS

    spec = parse({"name": "j", "tasks": [{"key": "f", "run": "m:f"}, {"key": "c", "run": ["true"]}]})
    assert spec.task("f").kind is TASK_KINDS["function"] and spec.task("f").kind.launch == "fork"
    assert spec.task("c").kind is TASK_KINDS["command"] and spec.task("c").kind.launch == "exec"


def expand_echo(section, job):  # a job type of this test, named in plugins.JOB_TYPES: one task
    if not isinstance(section, dict):
        raise ValueError("must be a mapping")
    return [{"key": section.get("key", "echo"), "run": "jobtasks:noop", "params": {"text": section["text"]},
             "depends_on": section.get("after", [])}]


def test_a_job_type_from_the_plugin_table_becomes_a_task_of_the_job(monkeypatch):
    from modelyard import plugins
    from modelyard.jobs import kinds

    monkeypatch.setitem(plugins.JOB_TYPES, "echo", "test_spec:expand_echo")
    monkeypatch.delitem(kinds.JOB_TYPES, "echo", raising=False)
    try:
        spec = parse({"name": "j", "tasks": [{"key": "a", "run": "m:f"}], "echo": {"text": "hi", "after": ["a"]}})
        assert {t.key for t in spec.tasks} == {"a", "echo"} and spec.task("echo").depends_on == ["a"]
        assert spec.order() == ["a", "echo"] and spec.task("echo").params == {"text": "hi"}
        only = parse({"name": "j", "echo": {"text": "alone"}})  # a job of its type alone needs no tasks list
        assert [t.key for t in only.tasks] == ["echo"]
        assert parse(only.to_dict()) == only  # what is stored parses back to the same job
        with pytest.raises(InvalidParameterValue, match="echo: must be a mapping"):
            parse({"name": "j", "echo": "hi"})
        with pytest.raises(InvalidParameterValue, match="unknown field"):
            parse({"name": "j", "tasks": [{"key": "a", "run": "m:f"}], "ech": {"text": "x"}})
    finally:
        kinds.JOB_TYPES.pop("echo", None)
