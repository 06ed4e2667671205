"""Recurrent actor-critic for meta-RL: the "PFC" network of Wang et al. (2016, 2018).

At step t the core reads ``[encoder(obs_t), one-hot a_{t-1}, r_{t-1}]`` and its activations carry what was
learnt within the episode; an actor head gives action logits and a critic head the state value.  Defaults
reproduce BKHMSI/Meta-RL-Harlow's canonical model: MLP encoder 9 -> 32 -> 64 (ReLU), LSTM(256), actor
initialised orthogonally with gain 0.01 and critic with gain 1.  ``core="gru"`` swaps in a GRU cell
(faster on the 1-D Harlow task in the reference's Hogwild comparison; with this package's earlier
synchronous recipe, entropy 0.001 and no clipping, a GRU on seed 0 stayed near 75% on trials 2-6 for
70,000 episodes).

``episodic=True`` is the epLSTM of Ritter et al. (2018): a fifth "reinstatement" gate r_t adds a recalled
cell state m_t to the LSTM's, ``c_t = f*c_{t-1} + i*g + r*tanh(m_t)``.  The recall comes from an
:class:`EpisodicMemory` (a per-slot key-value store of cell states, 1-nearest-neighbour by cosine similarity),
which the trainer fills with each episode's final cell state under the task's context key and queries at
the first step of every episode (when a task starts, as the reference retrieves once per cue); it is
run-time state, not a parameter.

Layout: one step at a time, slot-first: ``obs (N, obs_dim)``, ``prev_action (N,)`` long with -1 for "none
yet", ``prev_reward (N,)``; the recurrent state is a tuple of ``(N, hidden)`` tensors ``(h, c)`` (``(h,)``
for the GRU).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from mlcog.config import DictConfig

CORES = ("lstm", "gru")
RecurrentState = tuple[torch.Tensor, ...]


@dataclass(frozen=True)
class A2CConfig(DictConfig):
    obs_dim: int = 9  # observation width (9 for the 1-D Harlow window)
    n_actions: int = 3
    encoder: tuple[int, ...] = (32, 64)  # ReLU MLP widths on the observation; () feeds it to the core as is
    core: str = "lstm"  # lstm | gru
    hidden: int = 256  # units of the recurrent core ("mem-units")
    episodic: bool = False  # epLSTM core with a reinstatement gate (needs core="lstm")
    key_dim: int = 16  # episodic: width of the memory keys (the environment's context code)
    memory_size: int = 512  # episodic: stored cell states per environment slot (a ring buffer)

    def __post_init__(self) -> None:
        object.__setattr__(self, "encoder", tuple(int(w) for w in self.encoder))  # lists come back from JSON
        if self.core not in CORES:
            raise ValueError(f"A2CConfig.core must be one of {CORES}, got {self.core!r}")
        if self.episodic and self.core != "lstm":
            raise ValueError("A2CConfig.episodic needs core='lstm' (the reinstatement gate acts on the cell "
                             f"state), got core={self.core!r}")
        for name in ("obs_dim", "n_actions", "hidden", "key_dim", "memory_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"A2CConfig.{name} must be positive, got {getattr(self, name)}")
        if any(w < 1 for w in self.encoder):
            raise ValueError(f"A2CConfig.encoder widths must be positive, got {self.encoder}")

    @property
    def core_input(self) -> int:
        return (self.encoder[-1] if self.encoder else self.obs_dim) + self.n_actions + 1


class EpisodicLSTMCell(nn.Module):
    """LSTM cell with a reinstatement gate (Ritter et al. 2018); without a recall it is a plain LSTM cell."""

    def __init__(self, input_size: int, hidden: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.input_map = nn.Linear(input_size, 5 * hidden)
        self.hidden_map = nn.Linear(hidden, 5 * hidden, bias=False)
        # The reference's initialisation: Xavier input weights, orthogonal recurrent weights, forget bias 1.
        nn.init.xavier_uniform_(self.input_map.weight)
        for k in range(5):
            nn.init.orthogonal_(self.hidden_map.weight.data[k * hidden:(k + 1) * hidden])
        nn.init.zeros_(self.input_map.bias)
        nn.init.ones_(self.input_map.bias.data[hidden:2 * hidden])

    def forward(self, x: torch.Tensor, state: RecurrentState, recalled: torch.Tensor | None = None
                ) -> RecurrentState:
        h, c = state
        gates = self.input_map(x) + self.hidden_map(h)  # (N, 5H)
        i, f, o, r, g = gates.chunk(5, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        if recalled is not None:
            c = c + torch.sigmoid(r) * torch.tanh(recalled)
        return torch.sigmoid(o) * torch.tanh(c), c


class EpisodicMemory:
    """Per-slot key-value store of cell states: ``(N, M, key_dim)`` keys, ``(N, M, hidden)`` values.

    Writes go to a ring buffer (slots that are not written keep their pointer); a read returns, per slot, the
    value whose key is most cosine-similar to the query, or zeros while the slot's store is empty.
    """

    def __init__(self, n_envs: int, size: int, key_dim: int, hidden: int) -> None:
        self.keys = torch.zeros(n_envs, size, key_dim)
        self.values = torch.zeros(n_envs, size, hidden)
        self.count = torch.zeros(n_envs, dtype=torch.long)  # writes so far (capped reads at ``size``)

    def read(self, query: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``query (N, key_dim)`` -> ``(N, hidden)`` recalled values (no gradient flows into the store).

        Rows where ``mask (N,)`` is False recall zeros (the trainer recalls only at an episode's first step).
        """
        size = self.keys.shape[1]
        sim = torch.einsum("nmk,nk->nm", F.normalize(self.keys, dim=2), F.normalize(query, dim=1))  # (N, M)
        filled = torch.arange(size)[None, :] < self.count.clamp(max=size)[:, None]
        best = sim.masked_fill(~filled, -2.0).argmax(1)  # cosine >= -1, so an empty cell never wins
        out = self.values[torch.arange(len(query)), best]
        keep = self.count > 0 if mask is None else (self.count > 0) & mask
        return out * keep.float()[:, None]

    def write(self, key: torch.Tensor, value: torch.Tensor, mask: torch.Tensor) -> None:
        """Store ``value (N, hidden)`` under ``key (N, key_dim)`` for the slots where ``mask (N,)`` is set."""
        rows = mask.nonzero().flatten()
        if len(rows):
            pos = self.count[rows] % self.keys.shape[1]
            self.keys[rows, pos] = key[rows].float()
            self.values[rows, pos] = value[rows].detach()
            self.count[rows] += 1

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"keys": self.keys.clone(), "values": self.values.clone(), "count": self.count.clone()}

    def load_state_dict(self, d: dict[str, torch.Tensor]) -> None:
        self.keys, self.values, self.count = d["keys"].clone(), d["values"].clone(), d["count"].clone()


class A2CAgent(nn.Module):
    """Encoder -> recurrent core -> actor and critic heads (see the module docstring)."""

    def __init__(self, config: A2CConfig) -> None:
        super().__init__()
        self.config = config
        layers, width = [], config.obs_dim
        for w in config.encoder:
            layers += [nn.Linear(width, w), nn.ReLU()]
            width = w
        self.encoder = nn.Sequential(*layers)
        if config.episodic:
            self.core = EpisodicLSTMCell(config.core_input, config.hidden)
        elif config.core == "lstm":
            self.core = nn.LSTMCell(config.core_input, config.hidden)
        else:
            self.core = nn.GRUCell(config.core_input, config.hidden)
        self.actor = nn.Linear(config.hidden, config.n_actions)
        self.critic = nn.Linear(config.hidden, 1)
        nn.init.orthogonal_(self.actor.weight, gain=0.01)  # near-uniform initial policy
        nn.init.zeros_(self.actor.bias)
        nn.init.orthogonal_(self.critic.weight, gain=1.0)
        nn.init.zeros_(self.critic.bias)

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def initial_state(self, n: int, device: torch.device | str = "cpu") -> RecurrentState:
        zeros = torch.zeros(n, self.config.hidden, device=device)
        return (zeros,) if self.config.core == "gru" else (zeros, zeros.clone())

    def core_input(self, obs: torch.Tensor, prev_action: torch.Tensor, prev_reward: torch.Tensor
                   ) -> torch.Tensor:
        """``[encoder(obs), one-hot a_{t-1} (zeros for -1), r_{t-1}]`` of shape ``(N, core_input)``."""
        if obs.ndim != 2 or obs.shape[1] != self.config.obs_dim:
            raise ValueError(f"expected observations of shape (N, {self.config.obs_dim}), "
                             f"got {tuple(obs.shape)}")
        a = F.one_hot(prev_action.clamp(min=0), self.config.n_actions).float() * (prev_action >= 0)[:, None]
        return torch.cat([self.encoder(obs), a, prev_reward.float()[:, None]], dim=1)

    def forward(self, obs: torch.Tensor, prev_action: torch.Tensor, prev_reward: torch.Tensor,
                state: RecurrentState, recalled: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, RecurrentState]:
        """One step: ``(logits (N, n_actions), value (N,), new state)``."""
        x = self.core_input(obs, prev_action, prev_reward)
        if self.config.episodic:
            state = self.core(x, state, recalled)
        elif self.config.core == "lstm":
            state = self.core(x, state)
        else:
            state = (self.core(x, state[0]),)
        h = state[0]
        return self.actor(h), self.critic(h).squeeze(1), state


def reset_state(state: RecurrentState, done: torch.Tensor) -> RecurrentState:
    """Zero the recurrent state of the slots whose episode just ended (``done (N,)`` bool)."""
    keep = (~done).float()[:, None]
    return tuple(s * keep for s in state)


# -- checkpoints ---------------------------------------------------------------------------------------------
def zoo_rl_dir() -> Path:
    from mlcog.models.zoo import zoo_dir

    return zoo_dir() / "rl"


def resolve_agent(name_or_path: str | Path) -> Path:
    """A meta-RL zoo name (``harlow-lstm``), a checkpoint file, or a run directory -> checkpoint path."""
    from mlcog.models.checkpoint import CheckpointError

    text = str(name_or_path)
    zoo = zoo_rl_dir() / f"{text}.safetensors"
    if zoo.is_file():
        return zoo
    path = Path(text)
    if path.is_dir():
        path = path / "model.safetensors"
    if path.is_file():
        return path
    names = sorted(p.stem for p in zoo_rl_dir().glob("*.safetensors"))
    raise CheckpointError(f"no meta-RL zoo model or checkpoint named {text!r}; zoo: "
                          f"{', '.join(names) or 'none'} (or give a .safetensors file or a run directory)")


def load_agent(name_or_path: str | Path, map_location: str | torch.device = "cpu") -> A2CAgent:
    """Rebuild an :class:`A2CAgent` from a checkpoint (weights + ``model_config`` metadata), in eval mode."""
    from mlcog.models.checkpoint import CheckpointError, load_tensors, read_metadata

    path = resolve_agent(name_or_path)
    meta = read_metadata(path)
    try:
        config = A2CConfig.from_dict(meta["model_config"])
    except (KeyError, TypeError) as exc:
        raise CheckpointError(f"{path}: no A2C model_config in the metadata ({exc})") from exc
    agent = A2CAgent(config)
    state = {k[len("model."):]: v for k, v in load_tensors(path).items() if k.startswith("model.")}
    own = agent.state_dict()
    if set(state) != set(own) or any(state[k].shape != own[k].shape for k in own):
        raise CheckpointError(f"{path}: weights do not match the recorded A2C config {config}")
    agent.load_state_dict(state)
    return agent.to(map_location).eval()
