"""`distillguard provenance`: prove a suspect model learnt from our outputs (docs/provenance.md)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from distillguard.cli._common import console, friendly_errors, out
from distillguard.errors import ConfigError


def _secret(key_file: Optional[Path]) -> bytes:
    from distillguard.protect.policy import KEY_ENV, load_secret

    try:
        s = load_secret(str(key_file) if key_file else None)
    except (OSError, ValueError) as e:
        raise ConfigError(str(e), source=str(key_file) if key_file else KEY_ENV) from e
    if s is None:
        raise ConfigError(f"no protect key: pass --key-file or set {KEY_ENV} (the key the guard marked outputs with)")
    return s


def _accounts(account: Optional[list[str]], accounts_file: Optional[Path]) -> list[str]:
    acc = list(account or [])
    if accounts_file is not None:
        if not accounts_file.exists():
            raise ConfigError("accounts file not found", source=str(accounts_file))
        acc += [ln.strip() for ln in accounts_file.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    return list(dict.fromkeys(acc))


def register(app: typer.Typer) -> None:
    prov = typer.Typer(help="Evidence that a suspect model learnt from our watermarked, canaried outputs.",
                       no_args_is_help=True)

    @prov.command("test")
    @friendly_errors
    def test(
        endpoint: Optional[str] = typer.Option(None, "--endpoint", help="The suspect's OpenAI-compatible base URL, "
                                               "e.g. http://127.0.0.1:8000/v1 (POST …/chat/completions)."),
        outputs: Optional[Path] = typer.Option(None, "--outputs", help="Instead of --endpoint: JSONL of the "
                                               "suspect's outputs, {\"prompt\": …, \"output\": …} per line."),
        prompts: Optional[Path] = typer.Option(None, "--prompts", help="Probe prompts for --endpoint: JSONL with "
                                               "'prompt' or one per line. Best: prompts our API served to the "
                                               "suspected accounts (they include canary triggers)."),
        key_file: Optional[Path] = typer.Option(None, "--key-file", help="The protect secret the guard marked with "
                                                "(default: $DISTILLGUARD_PROTECT_KEY)."),
        account: Optional[list[str]] = typer.Option(None, "--account", help="A candidate account to trace (repeatable)."),
        accounts_file: Optional[Path] = typer.Option(None, "--accounts", help="File of candidate account ids, one a line."),
        registry: Optional[Path] = typer.Option(None, "--registry", help="The guard's canary registry (SQLite); its "
                                                "accounts become candidates and canary recall is tested."),
        reference: Optional[Path] = typer.Option(None, "--reference", help="JSONL of OUR unmarked answers to probe "
                                                 "prompts ({prompt, output}): the texts of the --likelihood test."),
        centre: bool = typer.Option(False, "--centre-on-reference", help="Also use --reference's word choices as "
                                    "the watermark test's expectation instead of 1/k (valid either way)."),
        likelihood: bool = typer.Option(False, "--likelihood", help="Also run the paired likelihood test: needs "
                                        "--endpoint scoring text (completions with echo+logprobs) and --reference."),
        max_probes: int = typer.Option(500, "--max-probes", min=1, help="Send at most this many probes."),
        model: str = typer.Option("suspect", "--model", help="Model name sent to the endpoint."),
        api_key_env: str = typer.Option("SUSPECT_API_KEY", "--api-key-env", help="Env var holding the endpoint's key."),
        temperature: float = typer.Option(0.7, "--temperature"),
        concurrency: int = typer.Option(4, "--concurrency", min=1),
        alpha: float = typer.Option(0.01, "--alpha", help="Significance level for the verdict and for tracing."),
        account_share: float = typer.Option(0.5, "--account-share", help="As in the policy's [protect] section."),
        canary_rate: float = typer.Option(0.05, "--canary-rate", help="As in the policy's [protect] section."),
        out_dir: Path = typer.Option(Path("provenance-out"), "--out", "-o", help="Folder for provenance.json, "
                                     "provenance.html and the suspect's outputs."),
    ) -> None:
        """Probe a suspect model and test it for our watermarks and canaries.

        Prints the combined p-value (Holm-corrected over all tests), the accounts whose marks
        appear, and writes an evidence report (HTML + JSON). Example:

            distillguard provenance test --endpoint http://127.0.0.1:8000/v1 --prompts probes.jsonl \\
                --key-file protect.key --registry state.canaries.db --out evidence/
        """
        from distillguard.protect.canary import CanaryRegistry
        from distillguard.provenance.clients import EndpointSuspect, read_outputs, read_probes
        from distillguard.provenance.evidence import analyse

        if (endpoint is None) == (outputs is None):
            raise ConfigError("give exactly one of --endpoint URL or --outputs FILE")
        secret = _secret(key_file)
        cands = _accounts(account, accounts_file)
        reg = None
        if registry is not None:
            if not registry.exists():
                raise ConfigError("canary registry not found", source=str(registry))
            reg = CanaryRegistry(registry)
        if endpoint is not None:
            if prompts is None:
                raise ConfigError("--endpoint needs --prompts FILE (what to ask the suspect)")
            probes = read_probes(prompts)[:max_probes]
            console.print(f"asking {endpoint} {len(probes)} probe prompts …")
            sus = EndpointSuspect(endpoint, model=model, api_key=os.environ.get(api_key_env),
                                  temperature=temperature, concurrency=concurrency)
            pairs = sus.collect(probes)
            suspect = {"endpoint": endpoint, "model": model}
        else:
            pairs = read_outputs(outputs)[:max_probes]  # type: ignore[arg-type]
            suspect = {"outputs": str(outputs)}
        ref_pairs = read_outputs(reference) if reference is not None else None
        ref = [o for _, o in ref_pairs] if ref_pairs is not None and centre else None
        scorer = None
        if likelihood:
            if endpoint is None or ref_pairs is None:
                raise ConfigError("--likelihood needs --endpoint (a suspect that scores text) and --reference FILE")
            scorer = sus.score_many
        ev = analyse(pairs, secret, accounts=cands, registry=reg, reference=ref, account_share=account_share,
                     canary_rate=canary_rate, alpha=alpha, suspect=suspect, scorer=scorer,
                     reference_pairs=ref_pairs[:max_probes] if ref_pairs else None)
        files = ev.write(out_dir)
        r = ev.report
        prov_t = r["tests"][0]
        out.print(f"combined p-value: {r['combined']['p_value']:.3g}  ({r['combined']['tests']} tests, Holm-corrected)")
        out.print(f"provider watermark: p = {prov_t['p_value']:.3g} over {prov_t['clusters']} contexts "
                  f"(match rate {prov_t['match_rate']:.2f}, chance {prov_t['expected'] / max(prov_t['clusters'], 1):.2f})")
        out.print(f"verdict: {r['verdict']}")
        if r["traced"]:
            out.print("traced accounts: " + ", ".join(f"{a['account_id']} (p = {a['p_holm']:.3g})"
                                                      for a in r["accounts"] if a["account_id"] in r["traced"]))
        elif cands or reg:
            out.print("traced accounts: none")
        console.print(f"report: {files['html']}  ·  {files['json']}")
        if reg is not None:
            reg.close()

    @prov.command("demo")
    @friendly_errors
    def demo(
        out_dir: Path = typer.Option(Path("provenance-demo"), "--out", "-o", help="Where to write the two reports."),
        probes: int = typer.Option(300, "--probes", min=10, help="Probe queries per student."),
        seed: int = typer.Option(0, "--seed"),
    ) -> None:
        """Train two toy students on built-in teacher outputs (one harvested through a marking
        guard, one clean), serve each on 127.0.0.1 as an OpenAI-compatible endpoint, and run
        `provenance test` against both. No download, about ten seconds."""
        from distillguard.provenance.demo import run_demo

        res = run_demo(out_dir, probes=probes, seed=seed, echo=lambda s: out.print(s, soft_wrap=True))
        console.print(f"reports: {res['marked']['html']}  ·  {res['clean']['html']}")

    @prov.command("share")
    @friendly_errors
    def share_cmd(
        report: Path = typer.Argument(..., help="provenance.json written by `provenance test`."),
        org: str = typer.Option(..., "--org", help="Our organisation's name (the author of the bundle)."),
        suspect: str = typer.Option(..., "--suspect", help="Name of the suspect model as it should appear."),
        policy: Optional[Path] = typer.Option(None, "--policy", help="Sharing policy TOML (default: the packaged "
                                              "deny-by-default policy, which refuses notes)."),
        tlp: str = typer.Option("amber", "--tlp", help="TLP 2.0 level: clear | green | amber | amber+strict | red."),
        out_path: Path = typer.Option(..., "--out", "-o", help="STIX bundle file to write."),
    ) -> None:
        """Write the result as a STIX 2.1 note about the suspect model, checked by the sharing policy.

        Only the verdict, p-value and counts leave; no account ids, prompts or outputs.
        Push it with `distillguard intel push` like any other bundle."""
        import json

        from distillguard.intel.policy import load_policy
        from distillguard.intel.stix import validate
        from distillguard.provenance.share import share

        if not report.exists():
            raise ConfigError("report not found", source=str(report))
        rep = json.loads(report.read_text())
        bundle = share(rep, org, suspect, load_policy(policy), tlp=tlp)
        errors, _ = validate(bundle)
        if errors:
            raise ConfigError("the bundle is not valid STIX 2.1: " + "; ".join(errors[:5]))
        out_path.write_text(json.dumps(bundle, indent=2) + "\n")
        console.print(f"[green]STIX bundle written[/] → {out_path} ({len(bundle['objects'])} objects, policy passed)")

    app.add_typer(prov, name="provenance")
