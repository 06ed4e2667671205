"""Meta-reinforcement learning with synchronous advantage actor-critic (A2C) on batched environments.

The loop, in order: a rollout of ``rollout`` steps in ``n_envs`` episodes at once (sampling actions from the
agent, resetting the recurrent state where an episode ends), advantages by GAE(lambda) bootstrapped from the
critic (lambda = 1: n-step returns, the reference's choice), one loss
``policy + value_coef * value - entropy_coef * entropy`` and one optimiser step, then logging, the
time-to-criterion check and checkpoints.  Gradients flow through the rollout only (truncated BPTT: the
recurrent state is detached between rollouts).  It is the synchronous counterpart of the reference's
Hogwild A3C (8 workers of batch 1), which a 2-core machine cannot run efficiently.

Everything that determines the future is checkpointed: weights, optimiser moments, every environment slot's
state and generator, the agents' recurrent states, the action-sampling generator and the running statistics,
so ``resume=True`` continues exactly as an uninterrupted run would.

Run directory layout (as :mod:`mlcog.train.category`)::

    config.json              the full MetaRLConfig and the command that produced it
    model.safetensors        weights + model config + training stages (what analyses and the zoo load)
    checkpoint.safetensors   everything needed to resume
    metrics.jsonl            charts/, losses/, harlow/, bandits/ metrics, one JSON object per logged update
    tb/                      TensorBoard event files
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from mlcog.config import DictConfig
from mlcog.models.a2c import A2CAgent, A2CConfig, EpisodicMemory, reset_state
from mlcog.models.checkpoint import load_tensors, read_metadata, save_model
from mlcog.tasks.envs import BATCHED_ENVS, BatchStep, make_batched
from mlcog.train.common import (
    MetricsLog,
    StopFlag,
    pick_device,
    read_metrics,
    restore_optimizer,
    save_training_checkpoint,
)

OPTIMIZERS = ("rmsprop", "adam")
CRITERION = 0.9  # Harlow: mean accuracy on trials 2-6 over the last ``window`` training episodes


@dataclass(frozen=True)
class MetaRLConfig(DictConfig):
    """Defaults: the 1-D Harlow recipe of BKHMSI/Meta-RL-Harlow (after Wang et al. 2018's Methods), except
    ``entropy_coef`` 0.01 (the reference's PsychLab value; the 1-D reference uses 0.001), gradient-norm
    clipping at 0.2 (the reference clips nothing) and a 30,000-episode budget (the reference: 20,000).

    Why: with synchronous batches the reference values left 1 of 3 seeds on a ~75-80% plateau on trials
    2-6 after 100,000 episodes (it learnt win-stay but kept losing track after a switch), and without
    clipping a seed that reached the criterion fell back to 86% by the end of training.  With these three
    changes seeds 0-2 all reached the criterion (11.6k-24.5k episodes) and ended at 95-96% on trials 2-6
    with frozen weights (bench/bench_metarl.py).  ``metarl_preset(env)`` gives the two-step and bandit
    recipes.
    """

    env: str = "harlow"  # harlow | two-step | bandits
    env_options: dict = field(default_factory=dict)  # task keyword options, e.g. {"difficulty": "uniform"}
    n_envs: int = 32  # episodes stepped in parallel (the reference: 8 Hogwild workers of batch 1)
    rollout: int = 20  # steps per update (n-step returns)
    episodes: int = 30_000  # training budget in completed episodes (the reference: 8 x 2500)
    gamma: float = 0.91
    gae_lambda: float = 1.0  # 1: plain n-step returns, as the reference
    value_coef: float = 0.4  # on 0.5 * (R - V)^2
    entropy_coef: float = 0.01  # the 1-D reference: 0.001 (see above)
    lr: float = 7.5e-4
    optimizer: str = "rmsprop"  # rmsprop (alpha 0.99, eps 1e-8, the reference's shared RMSprop) | adam
    max_grad_norm: float = 0.2  # clip the global gradient norm (typical norms 0.05-0.3); 0: no clipping
    seed: int = 0
    window: int = 1000  # episodes in the running statistics behind the criterion and the summary
    stop_at_criterion: bool = False  # Harlow: stop once trials 2-6 reach CRITERION over the window
    log_every: int = 10  # updates
    checkpoint_every: int = 500  # updates
    device: str = "cpu"  # the small recurrent nets step faster on CPU than through CUDA launches
    model: A2CConfig = field(default_factory=A2CConfig)

    def __post_init__(self) -> None:
        if self.env not in BATCHED_ENVS:
            raise ValueError(f"MetaRLConfig.env must be one of {', '.join(BATCHED_ENVS)}, got {self.env!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"MetaRLConfig.optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        for name in ("n_envs", "rollout", "episodes", "window", "log_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"MetaRLConfig.{name} must be positive, got {getattr(self, name)}")
        if not (0 < self.gamma <= 1 and 0 <= self.gae_lambda <= 1):
            raise ValueError(f"gamma must lie in (0, 1] and gae_lambda in [0, 1], got {self.gamma}, "
                             f"{self.gae_lambda}")
        if self.stop_at_criterion and self.env != "harlow":
            raise ValueError("stop_at_criterion is defined for env='harlow' only")
        if self.lr <= 0 or self.lr > 0.1:
            raise ValueError(f"MetaRLConfig.lr = {self.lr} is outside (0, 0.1]; did you mean {self.lr:g}e-3?")


def metarl_preset(env: str, **overrides) -> MetaRLConfig:
    """The recipe for ``env`` with keyword overrides (``model`` overrides go in ``model=dict(...)``).

    harlow:   BKHMSI/Meta-RL-Harlow (LSTM 256, gamma 0.91, beta_v 0.4, RMSprop 7.5e-4; beta_e 0.01 and
              clipping at 0.2, see :class:`MetaRLConfig`).
    two-step: BKHMSI/Meta-RL-TwoStep-Task "as in paper" (LSTM 48, gamma 0.9, beta_v 0.05, beta_e 0.05,
              RMSprop 7e-4, no clipping, 20,000 episodes of 100 trials).
    bandits:  awjuliani/Meta-RL dependent bandit (LSTM 48, gamma 0.8, beta_v 0.5, beta_e 0.05, Adam 1e-3,
              gradient norm clipped at 50), trained on uniform p for 50,000 episodes of 100 pulls.

    Both references update once per episode with batch 1 (20,000 updates); updating once per 32-episode
    batch left both agents at chance after 625 updates, so these recipes update every 20 steps (truncated
    BPTT within the 100-step episode), 5 times per batch of episodes.  The bandit budget is 2.5x the
    reference's because it takes about 70 s here and lowers regret on every difficulty set.
    """
    if env == "harlow":
        base = MetaRLConfig()
    elif env == "two-step":
        base = MetaRLConfig(env="two-step", rollout=20, episodes=20_000, gamma=0.9, value_coef=0.05,
                            entropy_coef=0.05, lr=7e-4, optimizer="rmsprop", max_grad_norm=0.0,
                            model=A2CConfig(obs_dim=4, n_actions=2, encoder=(), hidden=48))
    elif env == "bandits":
        base = MetaRLConfig(env="bandits", env_options={"difficulty": "uniform"}, rollout=20,
                            episodes=50_000, gamma=0.8, value_coef=0.5, entropy_coef=0.05, lr=1e-3,
                            optimizer="adam", max_grad_norm=50.0,
                            model=A2CConfig(obs_dim=1, n_actions=2, encoder=(), hidden=48))
    else:
        raise ValueError(f"unknown env {env!r}; choose one of {', '.join(BATCHED_ENVS)}")
    model = overrides.pop("model", None)
    if model:
        overrides["model"] = replace(base.model, **model)
    if "env_options" in overrides:  # merged, so that e.g. n_trials does not drop the preset's difficulty
        overrides["env_options"] = {**base.env_options, **overrides["env_options"]}
    return replace(base, **overrides)


# -- A2C maths -----------------------------------------------------------------------------------------------
def gae_advantages(rewards: torch.Tensor, values: torch.Tensor, dones: torch.Tensor, bootstrap: torch.Tensor,
                   gamma: float, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE(lambda) advantages and returns of a time-major rollout (Schulman et al. 2016).

    ``rewards``, ``values``, ``dones`` are ``(T, N)``; ``dones[t]`` marks that the episode ended at step t, so
    nothing is bootstrapped across it; ``bootstrap (N,)`` is V of the state after the last step.  With
    ``lam = 1`` the returns are the n-step discounted returns R_t = r_t + gamma r_{t+1} + ... + gamma^k V.
    Returns ``(advantages, returns)``, both ``(T, N)``, with ``returns = advantages + values``.
    """
    if not (rewards.shape == values.shape == dones.shape and bootstrap.shape == rewards.shape[1:]):
        raise ValueError(f"shapes disagree: rewards {tuple(rewards.shape)}, values {tuple(values.shape)}, "
                         f"dones {tuple(dones.shape)}, bootstrap {tuple(bootstrap.shape)}")
    advantages = torch.zeros_like(rewards)
    last, next_value = torch.zeros_like(bootstrap), bootstrap
    for t in reversed(range(rewards.shape[0])):
        live = 1.0 - dones[t].float()
        delta = rewards[t] + gamma * next_value * live - values[t]
        last = delta + gamma * lam * live * last
        advantages[t] = last
        next_value = values[t]
    return advantages, advantages + values


def a2c_losses(log_probs: torch.Tensor, entropies: torch.Tensor, values: torch.Tensor,
               advantages: torch.Tensor, returns: torch.Tensor, value_coef: float, entropy_coef: float
               ) -> dict[str, torch.Tensor]:
    """The A2C loss terms, each a mean over the ``(T, N)`` rollout.

    policy = -mean(log pi(a_t) * A_t), value = mean(0.5 (R_t - V_t)^2), entropy = mean(H_t), and
    total = policy + value_coef * value - entropy_coef * entropy.  Advantages and returns are treated as
    constants (no gradient flows through them).
    """
    policy = -(log_probs * advantages.detach()).mean()
    value = 0.5 * (returns.detach() - values).pow(2).mean()
    entropy = entropies.mean()
    return {"policy": policy, "value": value, "entropy": entropy,
            "total": policy + value_coef * value - entropy_coef * entropy}


# -- running statistics --------------------------------------------------------------------------------------
class EpisodeStats:
    """Per-episode statistics of finished training episodes: a window of the last ``window`` episodes (for the
    criterion and the summary) and sums since the last log (for metrics.jsonl).

    Columns: ``return``, ``length``, then ``acc_t1..`` (Harlow: 1 if the trial was correct, 0 if wrong or not
    reached) or ``regret`` (bandits: cumulative expected regret of the episode).
    """

    def __init__(self, env: str, n_envs: int, window: int, n_trials: int = 6) -> None:
        self.env = env
        extra = [f"acc_t{k + 1}" for k in range(n_trials)] if env == "harlow" else []
        extra += ["regret"] if env == "bandits" else []
        self.columns = ["return", "length", *extra]
        k = len(self.columns)
        f64, long = torch.float64, torch.long
        self.tensors = {"running": torch.zeros(n_envs, 3, dtype=f64),  # return, length, regret so far
                        "window": torch.zeros(window, k, dtype=f64), "count": torch.zeros(1, dtype=long),
                        "since_log": torch.zeros(k, dtype=f64), "since_log_n": torch.zeros(1, dtype=long)}

    @property
    def episodes(self) -> int:
        return int(self.tensors["count"])

    def record(self, out: BatchStep) -> None:
        t = self.tensors
        t["running"][:, 0] += out.reward.double()
        t["running"][:, 1] += 1
        if "regret" in out.info:
            t["running"][:, 2] += out.info["regret"].double()
        done = out.done
        if not bool(done.any()):
            return
        rows = [t["running"][done, :2]]
        if self.env == "harlow":
            rows.append((out.info["outcomes"][done] == 1).double())
        if self.env == "bandits":
            rows.append(t["running"][done, 2:3])
        finished = torch.cat(rows, dim=1)  # (n_done, k)
        size = t["window"].shape[0]
        pos = (int(t["count"]) + torch.arange(len(finished))) % size
        t["window"][pos] = finished
        t["count"] += len(finished)
        t["since_log"] += finished.sum(0)
        t["since_log_n"] += len(finished)
        t["running"][done] = 0.0

    def window_means(self) -> dict[str, float]:
        n = min(self.episodes, self.tensors["window"].shape[0])
        if n == 0:
            return {}
        return dict(zip(self.columns, self.tensors["window"][:n].mean(0).tolist(), strict=True))

    def pop_since_log(self) -> tuple[int, dict[str, float]]:
        n = int(self.tensors["since_log_n"])
        means = dict(zip(self.columns, (self.tensors["since_log"] / max(n, 1)).tolist(), strict=True))
        self.tensors["since_log"].zero_()
        self.tensors["since_log_n"].zero_()
        return n, means

    def criterion_met(self) -> bool:
        if self.env != "harlow" or self.episodes < self.tensors["window"].shape[0]:
            return False
        m = self.window_means()
        later = [v for k, v in m.items() if k.startswith("acc_t") and k != "acc_t1"]
        return sum(later) / len(later) >= CRITERION


def harlow_training_stages(rows: list[dict], n_stages: int = 5) -> list[dict]:
    """Accuracy by trial position in ``n_stages`` equal spans of training episodes, from metrics.jsonl rows.

    Each logged row holds the mean accuracy of the ``charts/episodes_logged`` episodes finished since the
    previous row, so episode-weighted means over rows give the accuracy of each span exactly (up to rows
    straddling a span boundary, which go to the span holding their last episode).
    """
    rows = [r for r in rows if r.get("charts/episodes_logged") and "harlow/acc_t1" in r]
    if not rows:
        return []
    total = rows[-1]["charts/episodes"]
    trials = sorted(int(k.rsplit("t", 1)[1]) for k in rows[0] if k.startswith("harlow/acc_t"))
    stages = []
    for s in range(n_stages):
        lo, hi = total * s / n_stages, total * (s + 1) / n_stages
        span = [r for r in rows if lo < r["charts/episodes"] <= hi]
        n = sum(r["charts/episodes_logged"] for r in span)
        if n == 0:
            continue
        acc = {f"acc_t{k}": sum(r[f"harlow/acc_t{k}"] * r["charts/episodes_logged"] for r in span) / n
               for k in trials}
        stages.append({"stage": s + 1, "first_episode": int(lo) + 1, "last_episode": int(hi), "episodes": n,
                       **acc})
    return stages


# -- training ------------------------------------------------------------------------------------------------
def _optimizer(cfg: MetaRLConfig, agent: A2CAgent) -> torch.optim.Optimizer:
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(agent.parameters(), lr=cfg.lr, alpha=0.99, eps=1e-8)
    return torch.optim.Adam(agent.parameters(), lr=cfg.lr)


def train_metarl(cfg: MetaRLConfig, out_dir: str | Path, *, resume: bool = False, command: str | None = None,
                 progress: bool = True) -> dict:
    """Train (or resume) a meta-RL agent; returns a summary dict.

    Keys: ``update``, ``episodes``, ``env_steps``, ``elapsed_s``, ``steps_per_s`` (environment steps per
    second of this call), ``interrupted`` (True after SIGINT/SIGTERM), ``criterion`` (Harlow: the update,
    episodes, environment steps and elapsed seconds when trials 2-6 first reached 90% over the window, or
    None), and the window means (``return``, ``acc_t1``...).
    """
    out = Path(out_dir)
    device = pick_device(cfg.device)
    ckpt_path = out / "checkpoint.safetensors"
    meta, tensors = None, None
    if resume:
        if not ckpt_path.exists():
            raise FileNotFoundError(f"resume: no checkpoint at {ckpt_path}")
        meta = read_metadata(ckpt_path)
        saved = MetaRLConfig.from_dict(meta["train_config"])
        if replace(saved, episodes=cfg.episodes) != cfg:
            raise ValueError(f"resume: the config differs from the one in {out / 'config.json'}; resume with "
                             "the same options (only the episode budget may change)")
        tensors = load_tensors(ckpt_path)
        command = command or meta.get("command")
    elif ckpt_path.exists():
        raise FileExistsError(f"{out} already holds a run; pass resume=True (--resume) or choose another "
                              "output directory")

    # -- seeding, environments, agent, optimiser
    torch.manual_seed(cfg.seed)
    agent = A2CAgent(cfg.model).to(device)
    opt = _optimizer(cfg, agent)
    env = make_batched(cfg.env, cfg.n_envs, cfg.seed, **cfg.env_options)
    if (env.obs_dim, env.n_actions) != (cfg.model.obs_dim, cfg.model.n_actions):
        raise ValueError(f"the {cfg.env!r} environment has obs_dim {env.obs_dim} and {env.n_actions} actions "
                         f"but the model expects {cfg.model.obs_dim} and {cfg.model.n_actions}; start from "
                         f"metarl_preset({cfg.env!r})")
    memory = None
    if cfg.model.episodic:
        if env.context is None or env.context.shape[1] != cfg.model.key_dim:
            width = "none" if env.context is None else env.context.shape[1]
            raise ValueError(f"the episodic agent needs the environment's context code of width "
                             f"{cfg.model.key_dim}; the {cfg.env!r} environment provides {width}")
        memory = EpisodicMemory(cfg.n_envs, cfg.model.memory_size, cfg.model.key_dim, cfg.model.hidden)
    sampler = torch.Generator().manual_seed(cfg.seed + 1)  # action sampling only, so it checkpoints cleanly
    stats = EpisodeStats(cfg.env, cfg.n_envs, cfg.window, getattr(env, "n_trials", 6))
    obs = env.reset()
    state = agent.initial_state(cfg.n_envs, device)
    prev_a = torch.full((cfg.n_envs,), -1, dtype=torch.long)
    prev_r = torch.zeros(cfg.n_envs)
    update, env_steps, elapsed0, criterion = 0, 0, 0.0, None
    if tensors is not None:
        agent.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        restore_optimizer(opt, tensors, meta["optim"])
        env.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("env.")}, meta["env"])
        for k in stats.tensors:
            stats.tensors[k] = tensors[f"stats.{k}"].clone()
        if memory is not None:
            memory.load_state_dict({k[7:]: v for k, v in tensors.items() if k.startswith("memory.")})
        state = tuple(tensors[f"loop.state{i}"].to(device) for i in range(len(state)))
        obs, prev_a, prev_r = tensors["loop.obs"], tensors["loop.prev_a"], tensors["loop.prev_r"]
        sampler.set_state(tensors["rng.sample"])
        update, env_steps = int(meta["step"]), int(meta["env_steps"])
        elapsed0, criterion = float(meta["elapsed_s"]), meta["criterion"]

    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps({"train_config": cfg.to_dict(), "command": command},
                                                indent=2))
    log = MetricsLog(out, resume_step=update if resume else None)
    t0, steps0 = time.perf_counter(), env_steps

    def elapsed() -> float:
        return elapsed0 + time.perf_counter() - t0

    def save() -> None:
        env_t, env_meta = env.state_dict()
        t = {f"env.{k}": v for k, v in env_t.items()}
        t.update({f"stats.{k}": v for k, v in stats.tensors.items()})
        if memory is not None:
            t.update({f"memory.{k}": v for k, v in memory.state_dict().items()})
        t.update({f"loop.state{i}": s for i, s in enumerate(state)})
        t.update({"loop.obs": obs, "loop.prev_a": prev_a, "loop.prev_r": prev_r,
                  "rng.sample": sampler.get_state()})
        info = {"episodes": stats.episodes, "env_steps": env_steps, "elapsed_s": elapsed(), "criterion": criterion}
        save_training_checkpoint(ckpt_path, agent, opt, cfg, update, command, t,
                                 model_config=cfg.model.to_dict(), env=env_meta, **info)
        extra = {"training_stages": harlow_training_stages(read_metrics(out))} if cfg.env == "harlow" else {}
        save_model(out / "model.safetensors", agent, train_config=cfg.to_dict(), command=command,
                   window=stats.window_means(), step=update, **info, **extra)

    def recall() -> torch.Tensor | None:
        # only at each episode's first step (no previous action yet): reinstate, then learn within the episode
        return None if memory is None else memory.read(env.context, prev_a < 0).to(device)

    interrupted = False
    bar = tqdm(total=cfg.episodes, initial=min(stats.episodes, cfg.episodes), disable=not progress,
               desc=f"metarl {cfg.env}", unit="ep", dynamic_ncols=True)
    with StopFlag() as stop:
        agent.train()
        while stats.episodes < cfg.episodes and not (cfg.stop_at_criterion and criterion is not None):
            # -- rollout (gradients flow within it; the state entering it is a constant)
            state = tuple(s.detach() for s in state)
            log_probs, entropies, values, rewards, dones = [], [], [], [], []
            episodes_before = stats.episodes
            for _ in range(cfg.rollout):
                logits, value, state = agent(obs.to(device), prev_a.to(device), prev_r.to(device), state,
                                             recall())
                logp_all = F.log_softmax(logits, dim=1)
                action = torch.multinomial(logp_all.exp().detach().cpu(), 1, generator=sampler).squeeze(1)
                context = env.context if memory is not None else None
                step = env.step(action)
                if memory is not None:  # keep each finished episode's final cell state under its task key
                    memory.write(context, state[1].cpu(), step.done)
                stats.record(step)
                log_probs.append(logp_all.gather(1, action.to(device)[:, None]).squeeze(1))
                entropies.append(-(logp_all.exp() * logp_all).sum(1))
                values.append(value)
                rewards.append(step.reward)
                dones.append(step.done)
                state = reset_state(state, step.done.to(device))
                prev_a = torch.where(step.done, -1, action)
                prev_r = torch.where(step.done, 0.0, step.reward)
                obs = step.obs
            env_steps += cfg.rollout * cfg.n_envs

            # -- loss and update
            with torch.no_grad():
                bootstrap = agent(obs.to(device), prev_a.to(device), prev_r.to(device), state, recall())[1]
            values_t = torch.stack(values)  # (T, N)
            adv, ret = gae_advantages(torch.stack(rewards).to(device), values_t.detach(),
                                      torch.stack(dones).to(device), bootstrap, cfg.gamma, cfg.gae_lambda)
            losses = a2c_losses(torch.stack(log_probs), torch.stack(entropies), values_t, adv, ret,
                                cfg.value_coef, cfg.entropy_coef)
            opt.zero_grad(set_to_none=True)
            losses["total"].backward()
            limit = cfg.max_grad_norm if cfg.max_grad_norm > 0 else float("inf")
            grad_norm = torch.nn.utils.clip_grad_norm_(agent.parameters(), limit)  # the norm before clipping
            opt.step()
            update += 1

            # -- criterion, logging, checkpoints
            if criterion is None and stats.criterion_met():
                criterion = {"update": update, "episodes": stats.episodes, "env_steps": env_steps,
                             "elapsed_s": round(elapsed(), 2)}
            bar.update(min(stats.episodes, cfg.episodes) - min(episodes_before, cfg.episodes))
            finished = stats.episodes >= cfg.episodes or (cfg.stop_at_criterion and criterion is not None)
            if update % cfg.log_every == 0 or finished:
                n, means = stats.pop_since_log()
                values_log = {"charts/episodes": stats.episodes, "charts/episodes_logged": n,
                              "charts/env_steps": env_steps, "charts/elapsed_s": round(elapsed(), 2),
                              "charts/steps_per_s": (env_steps - steps0) / max(time.perf_counter() - t0,
                                                                               1e-9),
                              **{f"losses/{k}": v.item() for k, v in losses.items()},
                              "losses/grad_norm": grad_norm.item()}
                if n:
                    values_log.update({"charts/return": means["return"], "charts/length": means["length"]})
                    values_log.update({f"{cfg.env}/{k}": v for k, v in means.items()
                                       if k not in ("return", "length")})
                log.log(update, **values_log)
                window = stats.window_means()
                harlow = {"t2-6": f"{_later_trials(window):.2f}"} if cfg.env == "harlow" and window else {}
                bar.set_postfix(ret=f"{window.get('return', float('nan')):.2f}", **harlow)
            interrupted = stop.requested
            if update % cfg.checkpoint_every == 0 or finished or interrupted:
                save()
            if interrupted:
                break
    bar.close()
    log.close()
    return {"update": update, "episodes": stats.episodes, "env_steps": env_steps, "elapsed_s": elapsed(),
            "steps_per_s": (env_steps - steps0) / max(time.perf_counter() - t0, 1e-9),
            "interrupted": interrupted, "criterion": criterion, "out_dir": str(out), **stats.window_means()}


def _later_trials(window: dict[str, float]) -> float:
    later = [v for k, v in window.items() if k.startswith("acc_t") and k != "acc_t1"]
    return sum(later) / max(len(later), 1)
