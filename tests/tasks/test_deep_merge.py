"""deep_merge (tinyrl.tasks.config): how scenario overrides and training flags merge into scenario data."""

from tinyrl.tasks.config import deep_merge, load_scenario


def test_deep_merge_replaces_leaves_keeps_siblings_and_leaves_its_inputs_alone():
    base = {"reward": {"progress": 1.0, "time": -0.01}, "train": {"seed": 0}, "name": "a"}
    extra = {"reward": {"time": -0.02}, "train": 5, "episode_s": {"x": 1}}
    merged = deep_merge(base, extra)
    assert merged == {"reward": {"progress": 1.0, "time": -0.02}, "train": 5, "name": "a", "episode_s": {"x": 1}}
    assert base == {"reward": {"progress": 1.0, "time": -0.01}, "train": {"seed": 0}, "name": "a"}
    assert deep_merge(None, {"a": 1}) == {"a": 1}  # a base that is not a dict is replaced whole


def test_scenario_overrides_merge_into_nested_sections():
    config = load_scenario("obstacle-course", {"randomization": {"wind_n": 0.0}, "train": {"seed": 7}})
    default = load_scenario("obstacle-course")
    assert config.randomization.wind_n == 0.0 and config.train.seed == 7
    assert config.randomization.mass_rel == default.randomization.mass_rel
    assert config.train.algo == default.train.algo
