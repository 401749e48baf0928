"""PPO with an asymmetric critic: the critic reads the privileged inputs, the actor (what is exported) never does."""

import numpy as np
import torch
from stable_baselines3 import PPO

from tinyrl.tasks.config import load_scenario
from tinyrl.tasks.features import observation_size
from tinyrl.tasks.vec_env import TinyRLVecEnv
from tinyrl.train.algos import mlp_from_sb3
from tinyrl.train.asymmetric import AsymmetricActorCriticPolicy
from tinyrl.train.run import RunOptions, make_model, resolve_config


def asymmetric_model(tmp_path):
    config = load_scenario("obstacle-course", {"course_pool_size": 5, "train": {"net_arch": [16, 16]}})
    env = TinyRLVecEnv(config, n_envs=4, seed=0, critic_inputs=True)
    return config, env, make_model(config, env, tmp_path)


def test_actor_ignores_the_critic_inputs_and_the_critic_reads_them(tmp_path):
    config, env, model = asymmetric_model(tmp_path)
    assert isinstance(model.policy, AsymmetricActorCriticPolicy)
    k = observation_size(config)
    obs = env.reset()
    other = obs.copy()
    other[:, k:] = np.random.default_rng(0).uniform(-1, 1, other[:, k:].shape)
    actions, other_actions = model.predict(obs, deterministic=True)[0], model.predict(other, deterministic=True)[0]
    np.testing.assert_array_equal(actions, other_actions)
    with torch.no_grad():
        values = model.policy.predict_values(torch.as_tensor(obs))
        other_values = model.policy.predict_values(torch.as_tensor(other))
    assert not torch.equal(values, other_values)
    env.close()


def test_exported_teacher_takes_the_observation_alone(tmp_path):
    config, env, model = asymmetric_model(tmp_path)
    k = observation_size(config)
    mlp = mlp_from_sb3(model)
    assert mlp.weights[0].shape == (16, k)
    obs = env.reset()
    np.testing.assert_allclose(mlp.act(obs[:, :k]), model.predict(obs, deterministic=True)[0], atol=1e-6)
    env.close()


def test_asymmetric_checkpoint_loads_and_acts_the_same(tmp_path):
    _, env, model = asymmetric_model(tmp_path)
    model.learn(2 * model.n_steps * env.num_envs)
    model.save(tmp_path / "m.zip")
    loaded = PPO.load(tmp_path / "m.zip", env=env, device="cpu")
    assert isinstance(loaded.policy, AsymmetricActorCriticPolicy)
    obs = env.reset()
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0])
    env.close()


def test_other_algorithms_leave_the_critic_inputs_out():
    config, left_out = resolve_config(RunOptions(env="obstacle-course", algo="sac"))
    assert config.train.critic_features == () and "train.critic_features" in left_out
