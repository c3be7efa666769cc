"""`edoc-gateway validate` and `edoc-gateway sign`: offline packet tools."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from edxml.errors import EdxmlError, Issue
from edxml.model import Envelope, Packet
from edxml.pipeline import CheckResult, check_packet
from edxml.signature import Policy, sign
from gateway.legal.offline import review_offline


def _load_certificates(paths: list[Path]) -> list[x509.Certificate]:
    certificates: list[x509.Certificate] = []
    for path in paths:
        certificates.extend(x509.load_pem_x509_certificates(path.read_bytes()))
    return certificates


def _fail(message_en: str, message_vi: str) -> None:
    typer.echo(f"error: {message_en} / {message_vi}", err=True)
    raise typer.Exit(1)


def _summary(result: CheckResult | None, errors: list[Issue], data_kind: str | None) -> dict:
    packet: Packet | None = result.packet if result else None
    verification = result.verification if result else None
    summary: dict[str, Any] = {
        "ok": not errors,
        "kind": packet.kind if packet else data_kind,
        "document_id": packet.document_id if packet else None,
        "from": packet.sender if packet else None,
        "to": list(packet.recipients) if packet else [],
        "status_code": None,
        "signature": {
            "status": verification.status if verification else None,
            "signer": verification.signer if verification else None,
            "algorithm": verification.algorithm if verification else None,
        },
        "attachments": [
            {
                "name": item.name,
                "content_type": item.content_type,
                "size": item.size,
                "sha256": item.sha256,
            }
            for item in (result.attachments if result else [])
        ],
        "errors": [issue.as_dict() for issue in errors],
        "warnings": [issue.as_dict() for issue in (result.warnings if result else [])],
    }
    if packet is not None and not isinstance(packet, Envelope):
        summary["status_code"] = packet.status_code.wire
    return summary


def _print_human(summary: dict) -> None:
    verdict = "ACCEPTED / HỢP LỆ" if summary["ok"] else "REFUSED / KHÔNG HỢP LỆ"
    typer.echo(f"{verdict}: {summary['kind'] or 'unknown'} packet")
    if summary["document_id"]:
        typer.echo(f"  DocumentId: {summary['document_id']}")
    if summary["from"]:
        typer.echo(f"  From: {summary['from']}  To: {', '.join(summary['to'])}")
    if summary["status_code"]:
        typer.echo(f"  StatusCode: {summary['status_code']}")
    if summary["signature"]["status"]:
        signature = summary["signature"]
        typer.echo(
            f"  Signature: {signature['status']} "
            f"({signature['algorithm'] or '-'}; {signature['signer'] or '-'})"
        )
    for item in summary["attachments"]:
        typer.echo(f"  Attachment: {item['name']} {item['size']} bytes sha256={item['sha256']}")
        for sig in item.get("pdf_signatures", ()):
            typer.echo(
                f"    PDF signature: {sig['status']} ({sig['signer'] or '-'}; "
                f"revocation {sig['revocation']}; whole file {sig['covers_whole_document']})"
            )
    for issue in summary["errors"]:
        typer.echo(f"  ERROR {issue['code']} at {issue['path'] or '/'}: {issue['message_en']}")
        typer.echo(f"        {issue['message_vi']}")
    for issue in summary["warnings"]:
        typer.echo(f"  warning {issue['code']}: {issue['message_en']} / {issue['message_vi']}")


def validate(
    file: Annotated[Path, typer.Argument(help="edXML packet to check ('-' for stdin)")],
    policy: Annotated[Policy, typer.Option(help="signature policy")] = Policy.LEGACY,
    trust: Annotated[
        list[Path] | None, typer.Option(help="PEM file of trust anchors (repeatable)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    document_trust: Annotated[
        list[Path] | None,
        typer.Option("--document-trust", help="PEM of PDF signature anchors (repeatable)"),
    ] = None,
    scan: Annotated[
        str | None, typer.Option("--scan", help="clamd address: tcp://host:port or unix:///path")
    ] = None,
    revocation: Annotated[
        str, typer.Option(help="OCSP/CRL checks: off (offline), soft or hard")
    ] = "off",
) -> None:
    """Check a packet (parse, schema, signature, rules, attachments); exit 0 if acceptable.

    Then the legal review: PDF signatures against ``--document-trust``, malware with
    ``--scan``, revocation per ``--revocation``."""
    try:
        data = sys.stdin.buffer.read() if str(file) == "-" else file.read_bytes()
        anchors = _load_certificates(trust or [])
    except (OSError, ValueError) as exc:
        _fail(f"cannot read input: {exc}", f"không đọc được dữ liệu vào: {exc}")
        return
    result: CheckResult | None = None
    errors: list[Issue] = []
    try:
        result = check_packet(data, policy=policy, trust_anchors=anchors)
    except EdxmlError as exc:
        errors.append(exc.as_issue())
    legal: list[dict[str, Any]] = []
    if revocation not in ("off", "soft", "hard"):
        _fail("--revocation must be off, soft or hard", "--revocation phải là off, soft hoặc hard")
    if result is not None:
        legal, found, refused = review_offline(
            data,
            result,
            packet_anchors=anchors,
            document_trust=document_trust or [],
            scan=scan,
            revocation=revocation,  # type: ignore[arg-type]
        )
        errors.extend(refused)
        result = dataclasses.replace(result, warnings=(*result.warnings, *found))
    summary = _summary(result, errors, None)
    for entry, report in zip(summary["attachments"], legal, strict=False):
        entry.update({k: v for k, v in report.items() if k not in entry})
    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False))
    else:
        _print_human(summary)
    raise typer.Exit(0 if summary["ok"] else 1)


def sign_packet(
    file: Annotated[Path, typer.Argument(help="edXML packet to sign")],
    key: Annotated[Path, typer.Option(help="PEM private key (RSA or EC P-256)")],
    cert: Annotated[Path, typer.Option(help="PEM certificate chain, signer first")],
    output: Annotated[Path, typer.Option("-o", "--output", help="where to write the result")],
) -> None:
    """Sign a packet with a W3C XML-DSig enveloped signature."""
    try:
        private_key = load_pem_private_key(key.read_bytes(), password=None)
        chain = _load_certificates([cert])
        data = file.read_bytes()
    except (OSError, ValueError, TypeError) as exc:
        _fail(f"cannot load input: {exc}", f"không tải được khóa/chứng thư/tệp: {exc}")
        return
    if not chain:
        _fail("no certificate in --cert", "không có chứng thư trong --cert")
    algorithm = (
        "ecdsa-sha256" if isinstance(private_key, ec.EllipticCurvePrivateKey) else "rsa-sha256"
    )
    try:
        signed = sign(data, private_key, chain, algorithm=algorithm)
    except EdxmlError as exc:
        _fail(exc.text_en, exc.text_vi)
        return
    output.write_bytes(signed)
    typer.echo(f"signed: {output}")


COMMANDS = {"validate": validate, "sign": sign_packet}
