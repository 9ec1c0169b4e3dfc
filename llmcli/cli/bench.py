"""`llmcli bench`: how fast is this server, under how much load. Parses, resolves, runs, reports."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from ..errors import ExitCode, LlmcliError, UsageError
from . import options as o
from .common import load_settings

LOAD = "Load"
DATA = "Requests"
METRICS = "Metrics"


def bench(
    concurrency: Annotated[
        str | None,
        typer.Option(
            "--concurrency",
            "-c",
            help="Requests kept in flight (closed loop) [1]; a list (1,4,16) runs one stage each. "
            "With --rate: the most in flight at once.",
            rich_help_panel=LOAD,
        ),
    ] = None,
    rate: Annotated[
        str | None,
        typer.Option(
            "--rate",
            "-r",
            help="Requests due per second (open loop, Poisson arrivals); a list sweeps; inf = all at once.",
            rich_help_panel=LOAD,
        ),
    ] = None,
    burstiness: Annotated[
        float,
        typer.Option(
            "--burstiness", help="Gamma-distributed gaps with this shape (1 = Poisson).", rich_help_panel=LOAD
        ),
    ] = 1.0,
    requests: Annotated[
        int | None,
        typer.Option(
            "--requests",
            "-n",
            help="Measured requests per stage [100 without --duration].",
            rich_help_panel=LOAD,
        ),
    ] = None,
    duration: Annotated[
        str | None,
        typer.Option(
            "--duration", help="Stop issuing after this long per stage: 60s, 2m.", rich_help_panel=LOAD
        ),
    ] = None,
    warmup: Annotated[
        int, typer.Option("--warmup", help="Requests first, left out of the figures.", rich_help_panel=LOAD)
    ] = 0,
    input_len: Annotated[
        int, typer.Option("--input-len", help="Synthetic prompt length in tokens.", rich_help_panel=DATA)
    ] = 256,
    output_len: Annotated[
        int | None,
        typer.Option(
            "--output-len",
            help="max_tokens per request [128 for synthetic prompts; a file's own lengths otherwise].",
            rich_help_panel=DATA,
        ),
    ] = None,
    range_ratio: Annotated[
        float,
        typer.Option(
            "--range-ratio", help="Vary synthetic lengths uniformly by ± this fraction.", rich_help_panel=DATA
        ),
    ] = 0.0,
    ignore_eos: Annotated[
        bool,
        typer.Option(
            "--ignore-eos",
            help="Ask the server to generate all --output-len tokens (vLLM, llama.cpp).",
            rich_help_panel=DATA,
        ),
    ] = False,
    dataset: Annotated[
        str | None,
        typer.Option(
            "--dataset",
            help="JSONL with 'prompt' or 'messages' per line, or a ShareGPT JSON file.",
            rich_help_panel=DATA,
        ),
    ] = None,
    model: o.Model = None,
    system: o.System = None,
    temperature: o.Temperature = None,
    top_p: o.TopP = None,
    stop: o.Stop = None,
    seed: o.Seed = None,
    option: o.Option = None,
    percentiles: Annotated[
        str, typer.Option("--percentiles", help="Percentiles to report.", rich_help_panel=METRICS)
    ] = "90,95,99",
    slo: Annotated[
        str | None,
        typer.Option("--slo", help="Goodput targets: ttft=500ms,tpot=50ms,e2el=5s.", rich_help_panel=METRICS),
    ] = None,
    max_error_rate: Annotated[
        str | None,
        typer.Option(
            "--max-error-rate",
            help="Exit 7 when a stage's failed fraction is above this (e.g. 0.05).",
            rich_help_panel=METRICS,
        ),
    ] = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format", help="table, json (one document) or csv (a row per stage).", rich_help_panel=o.OUT
        ),
    ] = "table",
    save: Annotated[
        str | None,
        typer.Option("--save", help="Also write the JSON document to FILE.", rich_help_panel=o.OUT),
    ] = None,
    save_requests: Annotated[
        str | None,
        typer.Option(
            "--save-requests",
            help="One JSON line per request (timings, tokens, status, error, text) to FILE.",
            rich_help_panel=o.OUT,
        ),
    ] = None,
    plot: Annotated[
        str | None,
        typer.Option(
            "--plot",
            help="Charts to FILE.png, .svg or .html (needs: pip install 'llmcli[plot]').",
            rich_help_panel=o.OUT,
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite existing output files.", rich_help_panel=o.OUT)
    ] = False,
    profile: o.Profile = None,
    base_url: o.BaseUrl = None,
    transport: o.Transport = None,
    timeout: o.Timeout = None,
    max_retries: Annotated[
        int | None,
        typer.Option(
            "--max-retries",
            help="Retries before the first byte (connect errors, 408/409/429/5xx) [0 here: errors show].",
            rich_help_panel=o.CONN,
            callback=o.connection_option,  # one of the connection options, with bench's own default
        ),
    ] = None,
    debug: o.Debug = False,
    ca_bundle: o.CaBundle = None,
    insecure: o.Insecure = False,
    proxy: o.Proxy = None,
) -> None:
    """Measure the server: TTFT, TPOT, ITL, E2EL and throughput under a load you choose."""
    from ..bench import parse

    if fmt == "text":
        fmt = "table"
    if fmt not in ("table", "json", "csv"):
        raise UsageError(f"--format must be table, json or csv, not {fmt!r}")
    shapes = _shapes(concurrency, rate, burstiness, seed)
    stop_when = _stop(requests, duration, warmup)
    wanted = parse.percentiles(percentiles)
    targets = parse.slo(slo) if slo is not None else None
    error_limit = parse.fraction(max_error_rate, "--max-error-rate") if max_error_rate is not None else None
    if output_len is not None and output_len < 1:
        raise UsageError("--output-len must be at least 1")
    outputs = _outputs(save, save_requests, plot, force)

    from ..bench.datasets import load_file, synthetic
    from ..bench.runner import BenchPlan, Stage, stage_label
    from .common import api_key, given_options, warn

    if dataset is not None:
        data = load_file(dataset)  # a bad file is found before anything goes to the server
    else:
        data = synthetic(input_len, output_len or 128, range_ratio, seed)
    settings = load_settings(model=model)
    key = api_key(settings)
    given = given_options()
    if settings.transport == "sdk":
        warn("note: bench runs on its own asyncio engine; --transport sdk does not apply")
    retries = given.get("max_retries")  # only when given: bench shows errors rather than hiding them
    chosen_model = _model(settings, key)
    template = _template(settings, chosen_model, system, temperature, top_p, stop, seed, option)
    template.output_len = output_len if dataset is not None else None
    template.output_len_wins = dataset is not None and output_len is not None
    template.ignore_eos = ignore_eos
    template.check()
    plan = BenchPlan(
        stages=[Stage(stage_label(s), s) for s in shapes],
        stop=stop_when,
        template=template,
        dataset=data,
        percentiles=wanted,
        slo=targets,
        retries=int(retries) if retries is not None else 0,
        keep_text=save_requests is not None,
    )
    _run_and_report(settings, key, plan, fmt=fmt, outputs=outputs, error_limit=error_limit)


# -- parsing -----------------------------------------------------------------------------------------


def _shapes(concurrency: str | None, rate: str | None, burstiness: float, seed: int | None):
    import math

    from ..bench import parse
    from ..load.types import LoadShape

    if not (burstiness > 0 and math.isfinite(burstiness)):
        raise UsageError("--burstiness must be a number above 0")
    conc = parse.int_list(concurrency, "--concurrency") if concurrency is not None else None
    if rate is None:
        return [LoadShape(concurrency=c) for c in (conc or [1])]
    rates = parse.rate_list(rate)
    if conc is not None and len(conc) > 1:
        if len(rates) > 1:
            raise UsageError(
                "sweep either --concurrency or --rate, not both", hint="give one of them a single value"
            )
        return [LoadShape(concurrency=c, rate=rates[0], burstiness=burstiness, seed=seed) for c in conc]
    cap = conc[0] if conc else None
    return [LoadShape(concurrency=cap, rate=r, burstiness=burstiness, seed=seed) for r in rates]


def _stop(requests: int | None, duration: str | None, warmup: int):
    from ..bench import parse
    from ..load.types import StopWhen

    if requests is not None and requests < 1:
        raise UsageError("--requests must be at least 1")
    if warmup < 0:
        raise UsageError("--warmup must be 0 or more")
    seconds = parse.duration(duration) if duration is not None else None
    if requests is None and seconds is None:
        requests = 100
    return StopWhen(requests=requests, duration=seconds, warmup=warmup)


def _outputs(save: str | None, save_requests: str | None, plot: str | None, force: bool) -> dict:
    from ..bench.report import check_new

    out: dict = {}
    if save is not None:
        out["save"] = check_new(save, force=force, option="--save")
    if save_requests is not None:
        out["requests"] = check_new(save_requests, force=force, option="--save-requests")
        out["force"] = force
    if plot is not None:
        from ..render.bench_plot import FORMATS, available

        path = check_new(plot, force=force, option="--plot")
        if path.suffix.lower() not in FORMATS:
            raise UsageError(f"--plot: {plot} must end in {', '.join(FORMATS)}")
        if not available():
            raise UsageError(
                "--plot needs matplotlib, which is not installed", hint="pip install 'llmcli[plot]'"
            )
        out["plot"] = path
    return out


def _model(settings, key) -> str:
    if settings.model:
        return settings.model
    from .common import make_transport, pick_model

    client = make_transport(settings, key)
    try:
        return pick_model(settings, client)
    finally:
        client.close()


def _template(settings, model, system, temperature, top_p, stop, seed, option):
    from ..bench.runner import RequestTemplate
    from .common import build_request

    request = build_request(
        settings,
        model,
        [],
        temperature=temperature,
        top_p=top_p,
        max_tokens=None,
        stop=stop,
        seed=seed,
        options=option,
    )
    params = {k: v for k, v in request.params.items() if k != "max_tokens"}  # --output-len decides
    return RequestTemplate(
        model=model,
        system=system if system is not None else settings.system,
        params=params,
        extra=request.extra,
    )


# -- running and reporting ---------------------------------------------------------------------------


def _stderr_live() -> bool:
    try:
        return sys.stderr.isatty() and os.environ.get("TERM", "") != "dumb"
    except (AttributeError, ValueError):
        return False


def _run_and_report(settings, key, plan, *, fmt: str, outputs: dict, error_limit: float | None) -> None:
    from dataclasses import replace

    from ..bench.report import RequestLog, document, save_document, to_csv, to_json
    from ..bench.runner import Runner
    from ..errors import Interrupted
    from .common import network_notes, transport_config

    config = replace(transport_config(settings, key), max_retries=plan.retries)
    network_notes(settings)
    live = None
    if _stderr_live():
        from ..render.bench import BenchLive

        live = BenchLive
    log = (
        RequestLog(outputs["requests"], force=outputs.get("force", False)) if "requests" in outputs else None
    )
    try:
        result = Runner(
            config,
            plan,
            live=live,
            on_record=log.write if log is not None else None,
            auth_hint=config.auth_hint,
        ).run()
    finally:
        if log is not None:
            log.close()
    doc = document(
        result, plan, base_url=settings.base_url, profile=settings.profile, timeout=settings.timeout
    )
    if settings.debug:
        _debug_notes(result)

    from ..render.sink import write_out

    if fmt == "json":
        text = to_json(doc)
    elif fmt == "csv":
        text = to_csv(doc)
    else:
        text = _table(doc)
    if "save" in outputs:
        save_document(outputs["save"], to_json(doc))
    if "plot" in outputs:
        _plot(outputs["plot"], doc, result)
    write_out(sys.stdout.buffer, text.encode("utf-8"))
    if _stderr_live():
        _charts(doc, result)
    if result.interrupted_by is not None:
        raise Interrupted(result.interrupted_by)
    if error_limit is not None:
        _check_errors(doc, error_limit, settings.base_url)


def _debug_notes(result) -> None:
    from .common import warn

    if result.probe is not None:
        p = result.probe
        warn(f"debug: probe: HTTP {p.status}, {(p.e2el or 0) * 1000:.1f} ms, {p.prompt_tokens} prompt tokens")
    if result.stale_connections:
        warn(
            f"debug: {result.stale_connections} kept-alive connections had been closed by the server; "
            "their requests were sent again on new ones (after 3, with Connection: close)"
        )


def _table(doc) -> str:
    import io

    from ..render.bench import print_report
    from .common import stdout_is_tty

    buf = io.StringIO()
    terminal = stdout_is_tty() and os.environ.get("TERM", "") != "dumb"
    print_report(doc, buf, terminal=terminal, color="NO_COLOR" not in os.environ)
    text = buf.getvalue()
    if not terminal:  # a file or a pipe: no padding to the table's width at the end of lines
        text = "\n".join(line.rstrip() for line in text.split("\n"))
    return text


def _charts(doc, result) -> None:
    import shutil

    from ..bench.report import distribution_samples
    from ..render.bench_charts import distribution_charts, sweep_charts

    width = shutil.get_terminal_size((100, 24)).columns
    color = "NO_COLOR" not in os.environ
    if len(doc["stages"]) > 1:
        text = sweep_charts(doc, width=width, color=color)
    else:
        text = distribution_charts(distribution_samples(result), width=width, color=color)
    if text:
        try:
            sys.stderr.write(text + "\n")
            sys.stderr.flush()
        except OSError:
            pass


def _plot(path, doc, result) -> None:
    from ..bench.report import distribution_samples, save_document
    from ..render.bench_plot import render

    save_document(path, render(doc, distribution_samples(result), path.suffix.lower()))


def _check_errors(doc, limit: float, base_url: str) -> None:
    from ..transport.base import host_of

    for stage in doc["stages"]:
        attempted = stage["completed"] + stage["failed"]
        if attempted and stage["failed"] / attempted > limit:
            raise LlmcliError(
                f"{stage['failed']} of {attempted} requests to {host_of(base_url)} failed in stage "
                f"{stage['label']!r} ({stage['failed'] / attempted:.1%}), more than --max-error-rate {limit:g}",
                hint="the report above shows the errors by kind",
                exit_code=ExitCode.INCOMPLETE,
            )
