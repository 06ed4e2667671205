"""The ``mlcog`` command line: a thin layer over the library (every command is one library call)."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

app = typer.Typer(help="mlcog: meta-learned models of cognition.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
train_app = typer.Typer(help="Meta-train models.", no_args_is_help=True)
run_app = typer.Typer(help="Run a published experiment on a model.", no_args_is_help=True)
models_app = typer.Typer(help="The pretrained zoo.", no_args_is_help=True)
data_app = typer.Typer(help="Human data sets.", no_args_is_help=True)
benchmark_app = typer.Typer(help="Benchmarks of meta-learners against standard learners.", no_args_is_help=True)
app.add_typer(train_app, name="train")
app.add_typer(run_app, name="run")
app.add_typer(models_app, name="models")
app.add_typer(data_app, name="data")
app.add_typer(benchmark_app, name="benchmark")
eval_app = typer.Typer(help="Evaluate trained models against human data.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")
generate_app = typer.Typer(help="Generate category-learning tasks with a language model.", no_args_is_help=True)
tasks_app = typer.Typer(help="Task sets: statistics of generated, real and synthetic tasks.", no_args_is_help=True)
app.add_typer(generate_app, name="generate")
app.add_typer(tasks_app, name="tasks")
# Wide tables when piped (rich assumes 80 columns without a terminal and would truncate cells).
console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)


def _command() -> str:
    return "mlcog " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def _fail(message: str) -> None:
    # Messages quote user input (e.g. "[x, y]"), which rich would otherwise parse as markup and drop.
    console.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(2)


def print_frame(df, title: str | None = None, floatfmt: str = "{:.3f}") -> None:
    table = Table(title=title)
    for col in df.columns:
        table.add_column(str(col))
    for row in df.itertuples(index=False):
        table.add_row(*[floatfmt.format(v) if isinstance(v, float) else str(v) for v in row])
    console.print(table)


# -- train --------------------------------------------------------------------------------------------------
@train_app.command("category")
def train_category_cmd(
    prior: str = typer.Option("linear", help="Task prior: linear | mlp | rmc | file | real."),
    dims: int = typer.Option(3, help="Number of stimulus features D."),
    out: Path = typer.Option(..., help="Run directory to create (or to continue with --resume)."),
    steps: int = typer.Option(10_000, help="Gradient steps (the paper: 500,000)."),
    batch_size: int = typer.Option(64),
    n_trials: int = typer.Option(100, help="Trials per training episode."),
    lr: float = typer.Option(3e-4),
    seed: int = typer.Option(0),
    tasks_file: Path | None = typer.Option(None, help="Generated-tasks CSV for --prior file."),
    arch: str = typer.Option("decoder", help="decoder | original | lstm."),
    d_model: int = typer.Option(64),
    n_heads: int = typer.Option(8),
    n_layers: int = typer.Option(6),
    d_ff: int = typer.Option(256),
    dropout: float = typer.Option(0.1),
    positional: str = typer.Option("sinusoidal", help="sinusoidal | none."),
    max_len: int = typer.Option(1024),
    token_shift: bool = typer.Option(False, help="Mix each token with its predecessor (helps without positions)."),
    shuffle_trials: bool = typer.Option(True),
    permute_features: bool = typer.Option(False),
    random_polarity: bool = typer.Option(True),
    normalize: bool = typer.Option(True, help="Per-task min-max scaling of stimuli to [0, 1]."),
    eval_every: int = typer.Option(100),
    checkpoint_every: int = typer.Option(500),
    device: str = typer.Option("auto", help="auto | cpu | cuda | cuda:N."),
    compile: bool = typer.Option(False, help="torch.compile the model."),
    resume: bool = typer.Option(False, help="Continue the run in --out from its last checkpoint."),
    progress: bool = typer.Option(True),
) -> None:
    """Meta-train an in-context category learner on a task prior (works under torchrun for DDP)."""
    from mlcog.models.metalearner import MetaLearnerConfig
    from mlcog.tasks.episodes import EpisodeOptions
    from mlcog.train.category import TrainConfig, train_category

    try:
        cfg = TrainConfig(
            prior=prior, tasks_file=str(tasks_file) if tasks_file else None, n_trials=n_trials,
            batch_size=batch_size, steps=steps, lr=lr, seed=seed, eval_every=eval_every,
            checkpoint_every=checkpoint_every, device=device, compile=compile,
            episodes=EpisodeOptions(shuffle_trials, permute_features, random_polarity, normalize),
            model=MetaLearnerConfig(arch=arch, n_features=dims, d_model=d_model, n_heads=n_heads,
                                    n_layers=n_layers, d_ff=d_ff, dropout=dropout, max_len=max_len,
                                    positional=positional, token_shift=token_shift))
        summary = train_category(cfg, out, resume=resume, command=_command(), progress=progress)
    except (ValueError, FileNotFoundError, FileExistsError) as exc:
        _fail(str(exc))
    code = 130 if summary["interrupted"] else 0
    if summary["is_main"]:  # under torchrun only rank 0 reports
        if summary["interrupted"]:
            console.print(f"stopped at step {summary['step']}; checkpoint saved. Continue with the same command "
                          "plus --resume.")
        else:
            console.print(f"done: step {summary['step']}, val_acc {summary.get('val_acc', float('nan')):.3f}, "
                          f"{summary['steps_per_s']:.1f} steps/s -> {out}")
    if summary["world_size"] > 1:
        _exit_distributed_rank(code)
    if code:
        raise typer.Exit(code)


def _exit_distributed_rank(code: int) -> NoReturn:
    """Leave a torchrun worker without interpreter teardown.

    Everything is saved and the process group destroyed by now, but gloo's worker threads can still own work
    objects that hold Python references; freeing them during interpreter finalisation occasionally aborts the
    process ("terminate called without an active exception", SIGABRT; pytorch/pytorch#179291), which torchrun
    reports as a failed run.  Exiting directly after flushing avoids that teardown.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@train_app.command("decision")
def train_decision_cmd(
    condition: str = typer.Option("ranking", help="ranking | direction | unknown (what the learner knows)."),
    out: Path = typer.Option(..., help="Run directory to create (or to continue with --resume)."),
    cues: int = typer.Option(4, help="Number of cues."),
    trials: int = typer.Option(10, help="Trials per task."),
    lambda_: float = typer.Option(0.0, "--lambda", help="Resource penalty on the cue weights."),
    lambda_init: float = typer.Option(0.0, help="Penalty at the start of the annealing."),
    anneal_frac: float = typer.Option(0.167, help="Fraction of training over which the penalty ramps up."),
    steps: int = typer.Option(20_000),
    batch_size: int = typer.Option(64),
    lr: float = typer.Option(3e-4),
    seed: int = typer.Option(0),
    device: str = typer.Option("auto"),
    resume: bool = typer.Option(False),
    progress: bool = typer.Option(True),
) -> None:
    """Meta-train a bounded decision learner on paired comparisons (Binz et al. 2022)."""
    from mlcog.models.decision_learner import DecisionLearnerConfig
    from mlcog.tasks.decision import DecisionEnvConfig
    from mlcog.train.decision import DecisionTrainConfig, train_decision

    try:
        cfg = DecisionTrainConfig(steps=steps, batch_size=batch_size, lr=lr, lambda_=lambda_,
                                  lambda_init=lambda_init, anneal_frac=anneal_frac, seed=seed, device=device,
                                  env=DecisionEnvConfig(condition=condition, n_cues=cues, n_trials=trials),
                                  model=DecisionLearnerConfig(n_cues=cues))
        summary = train_decision(cfg, out, resume=resume, command=_command(), progress=progress)
    except (ValueError, FileNotFoundError, FileExistsError) as exc:
        _fail(str(exc))
    if summary.get("interrupted"):
        console.print(f"stopped at step {summary['step']}; checkpoint saved; continue with --resume.")
        raise typer.Exit(130)
    console.print(f"done: {summary} -> {out}")


@train_app.command("biml")
def train_biml_cmd(
    out: Path = typer.Option(..., help="Run directory to create (or to continue with --resume)."),
    variant: str = typer.Option("algebraic+biases", help="algebraic+biases | algebraic | algebraic_noise | "
                                "retrieve | basic_seq2seq (the non-meta-learned baseline)."),
    steps: int = typer.Option(200_000, help="Optimiser steps (the paper: 50 epochs x 4,000)."),
    steps_per_epoch: int = typer.Option(4_000, help="Steps per epoch (warm-up lasts one epoch)."),
    batch_size: int = typer.Option(25, help="Episodes per batch."),
    query_subsample: int = typer.Option(0, help="Keep this many query sequences per episode (0 = all 24)."),
    lr: float = typer.Option(1e-3),
    d_model: int = typer.Option(128),
    n_heads: int = typer.Option(8),
    n_layers: int = typer.Option(3, help="Encoder layers = decoder layers."),
    d_ff: int = typer.Option(512),
    dropout: float = typer.Option(0.1),
    n_val: int = typer.Option(200, help="Validation episodes."),
    eval_every: int = typer.Option(100, help="Validate every this many steps."),
    checkpoint_every: int = typer.Option(1000),
    seed: int = typer.Option(0),
    device: str = typer.Option("auto", help="auto | cpu | cuda | cuda:N."),
    resume: bool = typer.Option(False, help="Continue the run in --out from its last checkpoint."),
    progress: bool = typer.Option(True),
) -> None:
    """Meta-train BIML / MLC on random-grammar episodes (Lake & Baroni 2023), or the basic seq2seq baseline."""
    from mlcog.models.seq2seq import Seq2SeqConfig
    from mlcog.train.biml import BimlTrainConfig, train_biml

    try:
        cfg = BimlTrainConfig(variant=variant, steps=steps, steps_per_epoch=steps_per_epoch, batch_size=batch_size,
                              query_subsample=query_subsample, lr=lr, n_val=n_val, eval_every=eval_every,
                              checkpoint_every=checkpoint_every, seed=seed, device=device,
                              model=Seq2SeqConfig(d_model=d_model, n_heads=n_heads, n_encoder_layers=n_layers,
                                                  n_decoder_layers=n_layers, d_ff=d_ff, dropout=dropout))
        summary = train_biml(cfg, out, resume=resume, command=_command(), progress=progress)
    except (ValueError, FileNotFoundError, FileExistsError) as exc:
        _fail(str(exc))
    if summary.get("interrupted"):
        console.print(f"stopped at step {summary['step']}; checkpoint saved; continue with --resume.")
        raise typer.Exit(130)
    console.print(f"done: {summary} -> {out}")


@train_app.command("tabular")
def train_tabular_cmd(
    out: Path = typer.Option(..., help="Run directory to create (or to continue with --resume)."),
    max_features: int = typer.Option(100, help="Most features a task may have (TabPFN v1: 100)."),
    max_classes: int = typer.Option(10, help="Most classes a task may have (TabPFN v1: 10)."),
    min_rows: int = typer.Option(64, help="Fewest rows (context + queries) per task."),
    max_rows: int = typer.Option(1024, help="Most rows per task."),
    tokens_per_batch: int = typer.Option(8192, help="Rows per step (tasks per batch = this / rows)."),
    d_model: int = typer.Option(512),
    n_heads: int = typer.Option(4),
    n_layers: int = typer.Option(12),
    d_ff: int = typer.Option(1024),
    steps: int = typer.Option(20_000),
    lr: float = typer.Option(1e-4),
    warmup_steps: int = typer.Option(1000),
    seed: int = typer.Option(0),
    eval_every: int = typer.Option(500),
    checkpoint_every: int = typer.Option(500),
    device: str = typer.Option("auto", help="auto | cpu | cuda | cuda:N."),
    resume: bool = typer.Option(False, help="Continue the run in --out from its last checkpoint."),
    progress: bool = typer.Option(True),
) -> None:
    """Meta-train a tabular prior-fitted network (multi-class, many features) on the SCM prior."""
    from mlcog.models.tabular_pfn import TabularPFNConfig
    from mlcog.tasks.tabular import TabularPriorConfig
    from mlcog.train.tabular import TabularTrainConfig, train_tabular

    try:
        cfg = TabularTrainConfig(
            steps=steps, lr=lr, warmup_steps=warmup_steps, seed=seed, eval_every=eval_every,
            checkpoint_every=checkpoint_every, device=device,
            prior=TabularPriorConfig(max_features=max_features, max_classes=max_classes, min_rows=min_rows,
                                     max_rows=max_rows, tokens_per_batch=tokens_per_batch),
            model=TabularPFNConfig(max_features=max_features, max_classes=max_classes, d_model=d_model,
                                   n_heads=n_heads, n_layers=n_layers, d_ff=d_ff))
        summary = train_tabular(cfg, out, resume=resume, command=_command(), progress=progress)
    except (ValueError, FileNotFoundError, FileExistsError) as exc:
        _fail(str(exc))
    if summary.get("interrupted"):
        console.print(f"stopped at step {summary['step']}; checkpoint saved; continue with --resume.")
        raise typer.Exit(130)
    console.print(f"done: {summary} -> {out}")


@train_app.command("function")
def train_function_cmd(
    prior: str = typer.Option("lucas", help="lucas (Lucas et al. 2015 mixture) | gp | file."),
    out: Path = typer.Option(..., help="Run directory to create (or to continue with --resume)."),
    tasks_file: Path | None = typer.Option(None, help="--prior file: CSV with task_id,x,y (or ERMI's layout)."),
    gp_kernel: str = typer.Option("rbf+linear", help="--prior gp: rbf | linear | rbf+linear | mixture."),
    n_points: int = typer.Option(25, help="Points per task (tasks are resampled to this length)."),
    steps: int = typer.Option(20_000, help="Gradient steps (the paper: 100,000)."),
    batch_size: int = typer.Option(64),
    lr: float = typer.Option(3e-4),
    d_model: int = typer.Option(64),
    n_heads: int = typer.Option(8),
    n_layers: int = typer.Option(6),
    d_ff: int = typer.Option(256),
    dropout: float = typer.Option(0.1),
    seed: int = typer.Option(0),
    eval_every: int = typer.Option(500),
    checkpoint_every: int = typer.Option(2000),
    device: str = typer.Option("auto", help="auto | cpu | cuda | cuda:N."),
    resume: bool = typer.Option(False, help="Continue the run in --out from its last checkpoint."),
    progress: bool = typer.Option(True),
) -> None:
    """Meta-train a function learner (causal transformer, Gaussian head) on a function-learning prior."""
    from mlcog.models.function_learner import FunctionLearnerConfig
    from mlcog.tasks.function import GPConfig
    from mlcog.train.function import FunctionTrainConfig, train_function

    try:
        cfg = FunctionTrainConfig(
            prior=prior, tasks_file=str(tasks_file) if tasks_file else None, n_points=n_points, steps=steps,
            batch_size=batch_size, lr=lr, seed=seed, eval_every=eval_every, checkpoint_every=checkpoint_every,
            device=device, gp=GPConfig(kernel=gp_kernel),
            model=FunctionLearnerConfig(d_model=d_model, n_heads=n_heads, n_layers=n_layers, d_ff=d_ff,
                                        dropout=dropout))
        summary = train_function(cfg, out, resume=resume, command=_command(), progress=progress)
    except (ValueError, FileNotFoundError, FileExistsError) as exc:
        _fail(str(exc))
    if summary.get("interrupted"):
        console.print(f"stopped at step {summary['step']}; checkpoint saved; continue with --resume.")
        raise typer.Exit(130)
    console.print(f"done: step {summary['step']}, val_nll {summary.get('val_nll', float('nan')):.3f}, "
                  f"val_mse {summary.get('val_mse', float('nan')):.4f}, {summary['steps_per_s']:.1f} steps/s -> {out}")


@train_app.command("metarl")
def train_metarl_cmd(
    env: str = typer.Option("harlow", help="harlow | two-step | bandits."),
    out: Path = typer.Option(..., help="Run directory to create (or to continue with --resume)."),
    episodes: int = typer.Option(None, help="Budget (recipes: harlow 30k, two-step 20k, bandits 50k)."),
    n_envs: int = typer.Option(None, help="Environments stepped in parallel."),
    rollout: int = typer.Option(None, help="Steps per update (n-step return horizon)."),
    lr: float = typer.Option(None),
    gamma: float = typer.Option(None),
    entropy_coef: float = typer.Option(None),
    value_coef: float = typer.Option(None),
    max_grad_norm: float = typer.Option(None),
    optimizer: str = typer.Option(None, help="rmsprop | adam."),
    core: str = typer.Option(None, help="lstm | gru."),
    hidden: int = typer.Option(None),
    episodic: bool = typer.Option(False, help="epLSTM with episodic memory (harlow, with --repeat-prob)."),
    repeat_prob: float = typer.Option(None, help="harlow: probability that an episode repeats an earlier task."),
    difficulty: str = typer.Option(None, help="bandits: uniform | easy | medium | hard | independent."),
    seed: int = typer.Option(0),
    stop_at_criterion: bool = typer.Option(False, help="harlow: stop when trials 2-6 reach 90%."),
    threads: int = typer.Option(1, help="torch threads (1 is fastest for these small networks)."),
    checkpoint_every: int = typer.Option(None),
    device: str = typer.Option(None),
    resume: bool = typer.Option(False),
    progress: bool = typer.Option(True),
) -> None:
    """Meta-reinforcement learning with a recurrent A2C agent on Harlow, the two-step task or bandits."""
    import torch

    from mlcog.train.metarl import metarl_preset, train_metarl

    torch.set_num_threads(threads)
    over = {k: v for k, v in dict(episodes=episodes, n_envs=n_envs, rollout=rollout, lr=lr, gamma=gamma,
                                  entropy_coef=entropy_coef, value_coef=value_coef, max_grad_norm=max_grad_norm,
                                  optimizer=optimizer, checkpoint_every=checkpoint_every, device=device).items()
            if v is not None}
    model = {k: v for k, v in dict(core=core, hidden=hidden, episodic=episodic or None).items() if v is not None}
    options = {k: v for k, v in dict(repeat_prob=repeat_prob, difficulty=difficulty).items() if v is not None}
    try:
        cfg = metarl_preset(env, seed=seed, stop_at_criterion=stop_at_criterion, model=model, env_options=options,
                            **over)
        summary = train_metarl(cfg, out, resume=resume, command=_command(), progress=progress)
    except (ValueError, FileNotFoundError, FileExistsError) as exc:
        _fail(str(exc))
    if summary.get("interrupted"):
        console.print(f"stopped; checkpoint saved in {out}. Continue with the same command plus --resume.")
        raise typer.Exit(130)
    console.print(f"done: {summary}")


# -- zoo ----------------------------------------------------------------------------------------------------
@models_app.command("list")
def models_list(commands: bool = typer.Option(False, help="Also print the command reproducing each model.")) -> None:
    """List the pretrained models shipped with mlcog."""
    from mlcog.models.zoo import zoo_table

    df = zoo_table()
    if df.empty:
        console.print("the zoo is empty")
        return
    print_frame(df.drop(columns=["command"]), title="mlcog zoo")
    if commands:
        for name, cmd in zip(df["name"], df["command"], strict=True):
            console.print(f"[bold]{name}[/bold]: {cmd}")


# -- experiments --------------------------------------------------------------------------------------------
@run_app.command("shepard1961")
def run_shepard(
    model: str = typer.Option("rmc-dim3", help="Zoo name or checkpoint path."),
    out: Path = typer.Option(Path("runs/shepard1961"), help="Output directory."),
    participants: int = typer.Option(64, help="Simulated participants per type."),
    blocks: int = typer.Option(10),
    trials_per_block: int = typer.Option(16),
    beta: float = typer.Option(1.0, help="Inverse temperature applied to the model's logits."),
    epsilon: float = typer.Option(0.0, help="Lapse rate."),
    sampling: str = typer.Option("balanced", help="balanced blocks | uniform draws with replacement."),
    seed: int = typer.Option(0),
) -> None:
    """Shepard, Hovland & Jenkins (1961): error by block on the six category structures."""
    from mlcog.experiments.shepard1961 import ShepardConfig, run_shepard1961

    try:
        result = run_shepard1961(model, ShepardConfig(participants, blocks, trials_per_block, beta, epsilon,
                                                      sampling, seed), out)
    except ValueError as exc:
        _fail(str(exc))
    print_frame(result.summary, title=f"Shepard 1961, {model}: mean error per type")
    console.print(f"ordering I < ... < VI holds: {result.ordering_holds}; written to {out}")


@run_app.command("harlow")
def run_harlow_cmd(
    model: str = typer.Option("harlow-lstm", help="Zoo agent name or run directory / checkpoint."),
    out: Path = typer.Option(Path("runs/harlow")),
    episodes: int = typer.Option(1000, help="Evaluation episodes of the final agent."),
    greedy: bool = typer.Option(False, help="Greedy actions instead of sampled ones."),
    seed: int = typer.Option(1000003),
) -> None:
    """Harlow task: accuracy by trial position (1-6) at successive training stages and for the final agent."""
    from mlcog.experiments.metarl import HarlowRunConfig, run_harlow

    try:
        res = run_harlow(model, out, HarlowRunConfig(episodes=episodes, greedy=greedy, seed=seed))
    except ValueError as exc:
        _fail(str(exc))
    print_frame(res.accuracy.pivot_table(index="label", columns="trial", values="accuracy", sort=False)
                .reset_index(), title=f"Harlow accuracy by trial, {model}")
    console.print(f"final agent: {res.final}; one-shot signature (trial 1 at chance, 2-6 >= 90%): {res.passed}; "
                  f"written to {out}")


@run_app.command("two-step")
def run_two_step_cmd(
    model: str = typer.Option(..., help="Run directory or checkpoint of a two-step agent."),
    out: Path = typer.Option(Path("runs/two-step")),
    episodes: int = typer.Option(300),
    greedy: bool = typer.Option(False),
) -> None:
    """Two-step task: stay probabilities by previous reward x transition type."""
    from mlcog.experiments.metarl import TwoStepRunConfig, run_two_step

    try:
        res = run_two_step(model, out, TwoStepRunConfig(episodes=episodes, greedy=greedy))
    except ValueError as exc:
        _fail(str(exc))
    print_frame(res.stay, title=f"Two-step stay probabilities, {model}")
    console.print(f"model-based index {res.model_based_index:.3f}, model-free index {res.model_free_index:.3f}, "
                  f"model-based signature: {res.signature}; written to {out}")


@run_app.command("bandits")
def run_bandits_cmd(
    model: str = typer.Option(..., help="Run directory or checkpoint of a bandit agent."),
    out: Path = typer.Option(Path("runs/bandits")),
    episodes: int = typer.Option(500, help="Episodes per difficulty set."),
    epsilon: float = typer.Option(0.1, help="Exploration rate of the epsilon-greedy baseline."),
    difficulties: str = typer.Option("easy,medium,hard,uniform,independent"),
) -> None:
    """Dependent bandits: cumulative regret vs epsilon-greedy, UCB and Thompson sampling."""
    from mlcog.experiments.metarl import BanditRunConfig, run_bandits

    try:
        res = run_bandits(model, out, BanditRunConfig(episodes=episodes, epsilon=epsilon,
                                                      difficulties=tuple(_split(difficulties))))
    except ValueError as exc:
        _fail(str(exc))
    print_frame(res.final, title=f"Bandits: final cumulative regret, {model}")
    console.print(f"beats epsilon-greedy: {res.beats_epsilon_greedy}; written to {out}")


@run_app.command("binz2022-heuristics")
def run_binz_heuristics_cmd(
    models: str = typer.Option(None, help="Comma-separated decision learners (zoo names, files or run "
                                          "directories; default: the decision zoo)."),
    out: Path = typer.Option(Path("runs/binz2022-heuristics"), help="Output directory (CSV and figure)."),
) -> None:
    """Which heuristic (take-the-best, equal weighting, ...) each trained decision learner behaves like."""
    from mlcog.experiments.binz2022 import heuristic_analysis
    from mlcog.models.zoo import family_names

    names = _split(models) if models else family_names("decision")
    if not names:
        _fail("no decision learners given and none in the zoo (scripts/train_zoo_decision.sh builds them)")
    try:
        table = heuristic_analysis({n: n for n in names}, out, echo=console.print)
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    winners = table.drop_duplicates("learner")[["learner", "condition", "lambda", "val_acc", "gini", "winner"]]
    print_frame(winners, title="best-fitting heuristic per learner (summed BIC)")
    console.print(f"written to {out}")


@run_app.command("curriculum")
def run_curriculum_cmd(
    task: str = typer.Option("category", help="category | grid."),
    out: Path = typer.Option(Path("runs/curriculum")),
    seeds: str = typer.Option("1,2,3,4,5", help="Comma-separated seeds."),
    n_test: int = typer.Option(10, help="Test episodes per condition and seed."),
    threads: int = typer.Option(1, help="torch threads (1 is fastest for these small models on CPU)."),
) -> None:
    """In-context vs in-weight learning (Russin et al. 2024): curriculum effects and the trade-off curves."""
    import torch

    from mlcog.experiments.curriculum import CurriculumConfig, run_curriculum

    torch.set_num_threads(threads)
    try:
        tables = run_curriculum(task, CurriculumConfig(seeds=tuple(int(s) for s in _split(seeds)), n_test=n_test),
                                out)
    except ValueError as exc:
        _fail(str(exc))
    if "comparison" in tables:
        print_frame(tables["comparison"], title=f"curriculum study, {task}: ours vs published")
    console.print(f"written to {out}")


def _params(text: str | None) -> dict[str, float]:
    """'c=8,b=0.1' -> {'c': 8.0, 'b': 0.1} (parameters of a classic model)."""
    out = {}
    for item in _split(text or ""):
        key, sep, value = item.partition("=")
        if not sep:
            _fail(f"--params expects name=value pairs separated by commas, got {item!r}")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            _fail(f"--params: {key.strip()} must be a number, got {value!r}")
    return out


@run_app.command("johansen2002")
def run_johansen(
    model: str = typer.Option("rmc-dim4", help="Zoo name, checkpoint path, or a classic model (gcm, alcove...)."),
    out: Path = typer.Option(Path("runs/johansen2002")),
    participants: int = typer.Option(68, help="Simulated participants."),
    beta: float = typer.Option(1.0, help="Meta-learners: inverse temperature."),
    params: str = typer.Option(None, help="Classic models: parameters, e.g. 'c=8,b=0.05'."),
    seed: int = typer.Option(0),
) -> None:
    """Johansen & Palmeri (2002) 5-4 structure: P(category A) for the 16 items after successive blocks."""
    from mlcog.experiments.johansen2002 import JohansenConfig, run_johansen2002

    try:
        res = run_johansen2002(model, JohansenConfig(participants=participants, beta=beta, seed=seed), out,
                               _params(params))
    except ValueError as exc:
        _fail(str(exc))
    print_frame(res.final, title=f"Johansen & Palmeri (2002), {model}: P(A) at the last block")
    console.print(f"written to {out}")


@run_app.command("smith1998")
def run_smith(
    model: str = typer.Option("rmc-dim6", help="Zoo name or checkpoint path (6 features), or a classic model."),
    out: Path = typer.Option(Path("runs/smith1998")),
    beta: float = typer.Option(1.0, help="Meta-learners: inverse temperature."),
    params: str = typer.Option(None, help="Classic models: parameters, e.g. 'c=8,b=0.05'."),
    seed: int = typer.Option(0),
) -> None:
    """Smith & Minda (1998): exemplar vs prototype model fit error by block on a model's simulated choices."""
    from mlcog.experiments.smith1998 import Smith1998Config, run_smith1998

    try:
        res = run_smith1998(model, Smith1998Config(beta=beta, seed=seed), out, _params(params))
    except ValueError as exc:
        _fail(str(exc))
    print_frame(res.trends, title=f"Smith & Minda (1998), {model}")
    console.print(f"exemplar fit error falls: {res.exemplar_falls}; exemplar better late: "
                  f"{res.exemplar_better_late}; written to {out}")


@run_app.command("levering2020")
def run_levering(
    model: str = typer.Option("rmc-dim6", help="Zoo name or checkpoint path (6 features), or a classic model."),
    out: Path = typer.Option(Path("runs/levering2020")),
    participants: int = typer.Option(64),
    beta: float = typer.Option(1.0, help="Meta-learners: inverse temperature."),
    params: str = typer.Option(None, help="Classic models: parameters, e.g. 'c=8,b=0.05'."),
    seed: int = typer.Option(0),
) -> None:
    """Levering et al. (2020): accuracy by block, linearly vs non-linearly separable structures."""
    from mlcog.experiments.levering2020 import LeveringConfig, run_levering2020

    try:
        res = run_levering2020(model, LeveringConfig(participants=participants, beta=beta, seed=seed), out,
                               _params(params))
    except ValueError as exc:
        _fail(str(exc))
    print_frame(res.summary, title=f"Levering et al. (2020), {model}")
    console.print(f"written to {out}")


_FUNCTION_MODELS_HELP = ("Comma-separated models: function-zoo names (lucas, gp), checkpoints or run directories "
                         "(label=path), classic models gp-rbf, gp-linear, gp-rbf+linear, poly-bic, alm, exam.")


@run_app.command("delosh1997")
def run_delosh_cmd(
    models: str = typer.Option(None, help=_FUNCTION_MODELS_HELP + " Default: all zoo and classic models."),
    out: Path = typer.Option(Path("runs/delosh1997")),
    scaling: str = typer.Option("experiment", help="Function learners: experiment (0-100/0-250 -> [-0.5, 0.5], "
                                "ERMI's) | context (training points min-max scaled like training tasks)."),
    seed: int = typer.Option(0),
) -> None:
    """DeLosh et al. (1997): extrapolation of linear, exponential and quadratic functions learned on 30-70."""
    from mlcog.experiments.function import DeLoshConfig, run_delosh1997

    try:
        res = run_delosh1997(_split(models) if models else None, out, DeLoshConfig(scaling=scaling, seed=seed),
                             echo=lambda *_: None)
    except ValueError as exc:
        _fail(str(exc))
    print_frame(res.summary, title="DeLosh et al. (1997): extrapolation (linearity 1 = linear, 0 = true function)")
    console.print(f"written to {out}")


@run_app.command("kwantes2006")
def run_kwantes_cmd(
    models: str = typer.Option(None, help=_FUNCTION_MODELS_HELP + " Default: all zoo and classic models."),
    out: Path = typer.Option(Path("runs/kwantes2006")),
    scaling: str = typer.Option("experiment", help="Function learners: experiment (0-100/0-250 -> [-0.5, 0.5], "
                                "ERMI's) | context (training points min-max scaled like training tasks)."),
    seed: int = typer.Option(0),
) -> None:
    """Kwantes & Neal (2006): RMSE of each model's responses to the human group means."""
    from mlcog.experiments.function import KwantesConfig, run_kwantes2006

    try:
        res = run_kwantes2006(_split(models) if models else None, out, KwantesConfig(scaling=scaling, seed=seed),
                              echo=lambda *_: None)
    except ValueError as exc:
        _fail(str(exc))
    print_frame(res.summary, title="Kwantes & Neal (2006): RMSE to the human means (response scale 0-250)")
    console.print(f"written to {out}")


@run_app.command("function-difficulty")
def run_function_difficulty_cmd(
    models: str = typer.Option("lucas,gp,gp-rbf+linear,poly-bic", help=_FUNCTION_MODELS_HELP),
    out: Path = typer.Option(Path("runs/function-difficulty")),
    n_tasks: int = typer.Option(200, help="Tasks per function type for meta-learners."),
    n_tasks_classic: int = typer.Option(5, help="Tasks per function type for classic models (refit per trial)."),
    seed: int = typer.Option(0),
) -> None:
    """Learning difficulty across function types: per-trial prediction error (positive linear easiest for people)."""
    from mlcog.experiments.function import DifficultyConfig, run_difficulty

    try:
        table = run_difficulty(_split(models), out, DifficultyConfig(n_tasks=n_tasks, n_tasks_classic=n_tasks_classic,
                                                                     seed=seed), echo=lambda *_: None)
    except ValueError as exc:
        _fail(str(exc))
    print_frame(table, title="Learning difficulty by function type (rank 1 = easiest)", floatfmt="{:.4f}")
    console.print(f"written to {out}")


# -- data ---------------------------------------------------------------------------------------------------
@data_app.command("validate")
def data_validate(file: Path = typer.Argument(..., help="A trial CSV in the documented long format.")) -> None:
    """Check a trial-level CSV against mlcog's schema and report what would be excluded."""
    from mlcog.data import DataError, validate_file

    try:
        report = validate_file(file)
    except DataError as exc:
        _fail(str(exc))
    console.print(report.summary())


@data_app.command("list")
def data_list() -> None:
    """List the bundled human data sets."""
    import pandas as pd

    from mlcog.data import list_datasets

    print_frame(pd.DataFrame([{"name": d.name, "features": d.n_features, "citation": d.citation,
                               "description": d.description} for d in list_datasets()]))


# -- fitting and comparison --------------------------------------------------------------------------------
def _split(models: str) -> list[str]:
    return [m.strip() for m in models.split(",") if m.strip()]


@app.command("fit")
def fit_cmd(
    study: str = typer.Argument(..., help="badham2017 | devraj2022 | a trial CSV in the documented format."),
    model: str = typer.Option(..., help="A classic model (gcm, prototype, rule, rulex, alcove) or a zoo name/path."),
    out: Path = typer.Option(Path("runs/fit"), help="Output directory (fits.csv)."),
    unit_by: str = typer.Option("participant", help="Fit units: participant or participant,condition."),
    n_starts: int = typer.Option(5, help="Random starts per fit unit."),
    method: str = typer.Option("bfgs", help="bfgs | lbfgs | adam | de | nelder-mead | powell."),
    seed: int = typer.Option(0),
) -> None:
    """Maximum-likelihood fit of one model to every participant: parameters, NLL, AIC, BIC, pseudo-R2."""
    from mlcog.data import DataError, load_dataset, to_trial_batch
    from mlcog.experiments.comparisons import STUDIES, study_models
    from mlcog.fit import fit_model
    from mlcog.registry import make_model

    try:
        df, report = load_dataset(study)
        console.print(report.summary())
        behavioural = study_models(study, [model])[0] if study in STUDIES else make_model(model)
        batch = to_trial_batch(df, unit_by=tuple(_split(unit_by)))
        fits = fit_model(behavioural, batch, n_starts=n_starts, method=method, seed=seed)
    except (DataError, ValueError) as exc:
        _fail(str(exc))
    out.mkdir(parents=True, exist_ok=True)
    fits.to_csv(out / "fits.csv", index=False)
    print_frame(fits.describe().T.reset_index().rename(columns={"index": "column"}).round(3),
                title=f"{model} on {study}")
    console.print(f"written to {out / 'fits.csv'}")


@app.command("compare")
def compare_cmd(
    study: str = typer.Argument(..., help="badham2017 | devraj2022 | binz2022 (decisions; see --experiment)."),
    models: str = typer.Option(None, help="Comma-separated models (default: the study's ERMI set). binz2022: "
                               "heuristics (ttb, ew-positive, tally, wadd, guess, ...) or label=checkpoint."),
    experiment: int = typer.Option(1, help="binz2022 only: experiment 1 (ranking known), 2 (directions), 3."),
    out: Path = typer.Option(None, help="Output directory (default runs/compare/STUDY)."),
    n_starts: int = typer.Option(3),
    method: str = typer.Option("bfgs"),
    backend: str = typer.Option("joblib", help="serial | joblib | ray."),
    n_jobs: int = typer.Option(None, help="Parallel workers (default: all cores)."),
    original_bic: bool = typer.Option(False, help="BIC with the original's fixed n (384 / 616)."),
    seed: int = typer.Option(0),
) -> None:
    """Fit models to every participant and compare them: BIC, random-effects BMS, figures and HTML."""
    from mlcog.data import DataError
    from mlcog.experiments.comparisons import run_comparison

    out = out or Path("runs/compare") / (study if study != "binz2022" else f"binz2022_exp{experiment}")
    try:
        if study == "binz2022":
            from mlcog.experiments.binz2022 import run_binz2022

            run_binz2022(experiment, _split(models) if models else None, out, n_starts=n_starts, method=method,
                         seed=seed, echo=console.print)
            console.print(f"written to {out}")
            return
        run_comparison(study, _split(models) if models else None, out, n_starts=n_starts, method=method,
                       backend=backend, n_jobs=n_jobs, original_bic=original_bic, seed=seed, echo=console.print)
    except (DataError, ValueError) as exc:
        _fail(str(exc))
    console.print(f"written to {out} (index.html, summary.csv, fits.csv, figures)")


@benchmark_app.command("tabular")
def benchmark_tabular(
    protocol: str = typer.Option("ermi", help="ermi (30-point contexts, 4 features) | tabpfn (<= 1000 rows)."),
    models: str = typer.Option(None, help="Comma-separated zoo names/paths (default: every fitting zoo model)."),
    baselines: str = typer.Option(None, help="Comma-separated: logreg,svm,knn,rf,hgb[,xgboost] (default all)."),
    datasets_dir: Path = typer.Option(None, help="Directory of .npz/.csv data sets (default: bundled CC18)."),
    out: Path = typer.Option(Path("runs/benchmark"), help="Output directory (CSVs, rank plot, report.html)."),
    n_sets: int = typer.Option(None, help="ERMI protocol: sets per data set (default 20)."),
    n_splits: int = typer.Option(None, help="TabPFN protocol: random splits (default 5)."),
    tune_budget_s: float = typer.Option(None, help="Seconds of hyperparameter search per baseline and split."),
    seed: int = typer.Option(0),
) -> None:
    """Offline tabular benchmark: the in-context classifier vs standard learners, mean ranks, CD plot."""
    from mlcog.benchmark import DatasetError, main

    try:
        result = main(protocol, _split(models) if models is not None else None, out, datasets_dir,
                      _split(baselines) if baselines else None, seed, n_sets, n_splits, tune_budget_s,
                      progress=console.print)
    except (DatasetError, ValueError) as exc:
        _fail(str(exc))
    print_frame(result.summary, title=f"{protocol} protocol")
    console.print(f"written to {out}")


# -- task generation and task statistics ---------------------------------------------------------------------
@generate_app.command("category")
def generate_category_cmd(
    dims: int = typer.Option(3, help="Number of stimulus features D (2..6)."),
    tasks: int = typer.Option(5, help="Number of tasks (label sets) to generate stimuli for."),
    rows: int = typer.Option(25, help="Stimuli requested per task."),
    min_rows: int = typer.Option(10, help="Tasks with fewer valid rows are rejected."),
    backend: str = typer.Option("auto", help="auto | anthropic | openai | local (auto: by API key, else local)."),
    model: str | None = typer.Option(None, help="Model name (API backends) or GGUF file (local backend)."),
    base_url: str | None = typer.Option(None, help="Endpoint for OpenAI-compatible servers (vLLM, Ollama, ...)."),
    labels: Path | None = typer.Option(None, help="Label-set CSV (default: the bundled Claude labels for D=3,4,6; "
                                       "for other D, step 1 generates them)."),
    first_label: int = typer.Option(0, help="Index of the first label set to use."),
    out: Path | None = typer.Option(None, help="Output CSV (default generated/<backend>_dim<D>_tasks<N>.csv)."),
    cache_dir: Path | None = typer.Option(None, help="Response cache (default: <out dir>/cache)."),
    cache_only: bool = typer.Option(False, help="Send nothing: build the CSV from cached responses only."),
    concurrency: int = typer.Option(4, help="Requests in flight at once."),
    temperature: float = typer.Option(1.0),
    max_tokens: int = typer.Option(0, help="Tokens per response (0: enough for --rows rows)."),
    seed: int = typer.Option(0),
    threads: int = typer.Option(1, help="CPU threads of the local model."),
    constrain: str = typer.Option("balanced", help="Local model only: balanced | free | none (grammar-constrained "
                                  "rows; balanced: half the rows per category, values chosen by the model)."),
    progress: bool = typer.Option(True),
) -> None:
    """Two-step LLM generation of category-learning tasks into the generated-tasks CSV format."""
    from mlcog.generate.backends import BackendError, default_backend_name
    from mlcog.generate.category import GenerateConfig, generate_category_tasks

    name = backend if backend != "auto" else ("openai" if base_url else default_backend_name())
    out = out or Path("generated") / f"{name}_dim{dims}_tasks{tasks}.csv"
    cfg = GenerateConfig(dims=dims, n_tasks=tasks, n_rows=rows, min_rows=min_rows, backend=name, model=model,
                         base_url=base_url, labels_file=str(labels) if labels else None, first_label=first_label,
                         temperature=temperature, max_tokens=max_tokens, seed=seed, concurrency=concurrency,
                         n_threads=threads, constrain=constrain)
    try:
        s = generate_category_tasks(cfg, out, cache_dir=cache_dir, cache_only=cache_only, progress=progress)
    except (ValueError, FileNotFoundError, BackendError) as exc:
        _fail(str(exc))
    u = s["usage"]
    cost = "unknown price" if u["cost_usd"] is None else f"${u['cost_usd']:.4f}"
    console.print(f"kept {s['tasks_kept']}/{s['tasks_requested']} tasks ({s['rows_kept']} rows); rejected tasks: "
                  f"{s['tasks_rejected'] or 'none'}; rejected rows: {s['rows_rejected'] or 'none'}")
    console.print(f"requests: {u['new_requests']} new, {u['cached']} cached, {u['failed']} failed, {u['retries']} "
                  f"retries; tokens in/out (new) {u['new_input_tokens']}/{u['new_output_tokens']}; cost {cost}")
    console.print(f"-> {out} (summary: {out}.json)")


@generate_app.command("labels")
def generate_labels_cmd(
    dims: int = typer.Option(3, help="Number of feature dimensions D (2..6)."),
    sets: int = typer.Option(20, help="Number of label sets wanted."),
    out: Path = typer.Option(..., help="Output label CSV (feature_names, category_names, task_id)."),
    backend: str = typer.Option("auto", help="auto | anthropic | openai | local."),
    model: str | None = typer.Option(None, help="Model name (API backends) or GGUF file (local backend)."),
    base_url: str | None = typer.Option(None, help="Endpoint for OpenAI-compatible servers."),
    per_prompt: int = typer.Option(20, help="Label sets asked for in one request."),
    cache_dir: Path | None = typer.Option(None, help="Response cache (default: <out dir>/cache)."),
    seed: int = typer.Option(0),
    threads: int = typer.Option(1, help="CPU threads of the local model."),
) -> None:
    """Step 1 alone: ask for task labels (D feature names and two category names per task)."""
    import json

    from mlcog.generate.backends import BackendError, make_backend
    from mlcog.generate.category import GenerateConfig, generate_labels, write_labels
    from mlcog.generate.runner import ResponseCache

    cfg = GenerateConfig(dims=dims, backend=backend, model=model, base_url=base_url, labels_per_prompt=per_prompt,
                         seed=seed, n_threads=threads)
    try:
        be = make_backend(backend, model, base_url, n_threads=threads)
        label_sets, summary = generate_labels(cfg, be, ResponseCache(cache_dir or out.parent / "cache"), sets)
    except (ValueError, BackendError) as exc:
        _fail(str(exc))
    write_labels(out, label_sets)
    Path(str(out) + ".json").write_text(json.dumps({"config": cfg.__dict__, "backend": be.describe(), **summary},
                                                   indent=2, default=str))
    console.print(f"{len(label_sets)}/{sets} label sets; rejected: {summary['rejected'] or 'none'} -> {out}")


@tasks_app.command("stats")
def tasks_stats_cmd(
    files: list[Path] = typer.Argument(None, help="Generated-tasks CSVs to analyse."),
    dims: int = typer.Option(3, help="Number of features D of the tasks."),
    real: bool = typer.Option(True, help="Add the bundled OpenML-CC18 sets, chunked as in the paper."),
    priors: str = typer.Option("linear,mlp,rmc", help="Synthetic priors to add (comma-separated; '' for none)."),
    n_tasks: int = typer.Option(300, help="Tasks sampled per synthetic prior / real data."),
    n_trials: int = typer.Option(100, help="Trials per synthetic or real task."),
    max_file_tasks: int = typer.Option(0, help="Analyse at most this many tasks of each file (0 = all)."),
    out: Path = typer.Option(Path("runs/task_stats"), help="Output directory for the table and the figure."),
    seed: int = typer.Option(0),
) -> None:
    """ERMI's task statistics side by side: correlation, sparsity, linearity and learnability."""
    from mlcog.tasks.stats import StatsConfig, run_task_stats

    cfg = StatsConfig(dims=dims, real=real, priors=tuple(p for p in priors.split(",") if p), n_tasks=n_tasks,
                      n_trials=n_trials, max_file_tasks=max_file_tasks, seed=seed)
    try:
        table = run_task_stats([str(f) for f in files or []], cfg, out, echo=console.print)
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    print_frame(table, title="Task statistics (means over tasks)")
    console.print(f"-> {out}/task_stats.csv, {out}/task_stats_per_task.csv, {out}/task_stats.png")


@eval_app.command("biml")
def eval_biml_cmd(
    model: str = typer.Option("biml-algebraic-biases-cpu", help="BIML zoo name, checkpoint or run directory."),
    n_episodes: int = typer.Option(100, help="Random re-mappings of the gold task (accuracy)."),
    n_rep: int = typer.Option(100, help="Random re-mappings for the human log-likelihood."),
    n_open: int = typer.Option(100, help="Open-ended samples (iterative sampling)."),
    seed: int = typer.Option(0),
    out: Path | None = typer.Option(None, help="Directory for one CSV per table."),
) -> None:
    """Gold accuracy, human log-likelihood with fitted lapse, error types and open-ended biases (Lake & Baroni)."""
    from mlcog.experiments.biml import evaluate_biml, load_biml

    try:
        tables = evaluate_biml(load_biml(model), n_episodes=n_episodes, n_rep=n_rep, n_open=n_open, seed=seed)
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    for name, df in tables.items():
        print_frame(df, title=name)
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            df.to_csv(out / f"{name}.csv", index=False)


# -- main job -----------------------------------------------------------------------------------------------
@app.command("demo")
def demo(
    out: Path = typer.Option(Path("runs/demo"), help="Output directory for CSVs, figures and index.html."),
    participants: int = typer.Option(64, help="Simulated learners per Shepard type."),
    badham: bool = typer.Option(True, help="Include the Badham et al. (2017) model comparison."),
) -> None:
    """The main job: zoo models on the Shepard types and fitted to Badham et al. (2017); HTML report."""
    from mlcog.experiments.demo import DemoConfig, run_demo
    from mlcog.experiments.shepard1961 import ShepardConfig

    run_demo(out, DemoConfig(shepard=ShepardConfig(participants=participants), badham=badham), echo=console.print)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
