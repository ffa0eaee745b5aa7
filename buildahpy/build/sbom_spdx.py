"""The SPDX 2.3 JSON document of an image, from the same records as the CycloneDX one (sbom.py).

Pure: starts no process. A License tag that is no SPDX expression becomes a LicenseRef whose
extracted text is the tag as written; it never fails the document.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from typing import Any

from license_expression import Licensing
from spdx_tools.spdx.model.actor import Actor, ActorType
from spdx_tools.spdx.model.checksum import Checksum, ChecksumAlgorithm
from spdx_tools.spdx.model.document import CreationInfo, Document
from spdx_tools.spdx.model.extracted_licensing_info import ExtractedLicensingInfo
from spdx_tools.spdx.model.package import (
    ExternalPackageRef,
    ExternalPackageRefCategory,
    Package,
    PackagePurpose,
)
from spdx_tools.spdx.model.relationship import Relationship, RelationshipType
from spdx_tools.spdx.model.spdx_no_assertion import SpdxNoAssertion
from spdx_tools.spdx.writer.json.json_writer import write_document_to_stream

from buildahpy.build import sbom
from buildahpy.plan.distro import Target
from buildahpy.plan.packages import Package as RpmPackage

_LICENSING = Licensing()  # as written: the SPDX one maps LicenseRef-X to aliases of its own


def _spdx_id(text: str) -> str:
    return "SPDXRef-" + re.sub(r"[^A-Za-z0-9.-]+", "-", text)


def _license(tag: str, extracted: dict[str, str]) -> Any:
    expression = sbom.license_expression(tag)
    if expression is None:
        if not tag:
            return SpdxNoAssertion()
        ref = sbom.license_ref(tag)
        extracted[ref] = tag
        return _LICENSING.parse(ref)
    for symbol in _LICENSING.license_symbols(_LICENSING.parse(expression)):
        if str(symbol.key).startswith("LicenseRef-"):
            extracted.setdefault(str(symbol.key), f"{symbol.key} (as the rpm License tag names it)")
    return _LICENSING.parse(expression)


def _package(rpm: RpmPackage, target: Target, extracted: dict[str, str]) -> Package:
    header = rpm.header
    checksums = []
    if re.fullmatch(r"[0-9a-f]{64}", header.sha256header):
        checksums.append(Checksum(ChecksumAlgorithm.SHA256, header.sha256header))
    if re.fullmatch(r"[0-9a-f]{32}", header.sigmd5):
        checksums.append(Checksum(ChecksumAlgorithm.MD5, header.sigmd5))
    who = sbom.supplier(rpm)
    declared = _license(header.license, extracted)
    return Package(
        spdx_id=_spdx_id(f"rpm-{rpm.name}"),
        name=rpm.name,
        download_location=SpdxNoAssertion(),
        version=f"{header.version}-{header.release}",
        supplier=Actor(ActorType.ORGANIZATION, who) if who else SpdxNoAssertion(),
        files_analyzed=False,
        checksums=checksums,
        license_concluded=declared,
        license_declared=declared,
        source_info=f"source rpm {header.sourcerpm}" if header.sourcerpm else None,
        comment=f"epoch {header.epoch}, arch {header.arch}; checksums: SHA256HEADER, SIGMD5",
        external_references=[
            ExternalPackageRef(
                ExternalPackageRefCategory.PACKAGE_MANAGER, "purl", sbom.purl(rpm, target)
            )
        ],
        primary_package_purpose=PackagePurpose.OPERATING_SYSTEM
        if rpm.name.endswith("-release") or "-release-" in rpm.name
        else PackagePurpose.LIBRARY,
    )


def spdx(subject: sbom.Subject, packages: Mapping[str, RpmPackage]) -> str:
    """The SPDX 2.3 JSON document."""
    target, extracted = subject.target, dict[str, str]()
    image = Package(
        spdx_id="SPDXRef-image",
        name=subject.tag,
        download_location=SpdxNoAssertion(),
        version=f"sha256:{subject.image_id}" if subject.image_id else None,
        files_analyzed=False,
        primary_package_purpose=PackagePurpose.CONTAINER,
        comment=f"target {target.family} {target.releasever}"
        + (f"; digest {subject.digest}" if subject.digest else "")
        + ("" if subject.image_id else "; image id not known: written before the commit"),
    )
    rpms = {name: _package(p, target, extracted) for name, p in sorted(packages.items())}
    relationships = [Relationship("SPDXRef-DOCUMENT", RelationshipType.DESCRIBES, image.spdx_id)]
    relationships += [
        Relationship(image.spdx_id, RelationshipType.CONTAINS, p.spdx_id) for p in rpms.values()
    ]
    for name, needs in sbom.dependencies(packages).items():
        relationships += [
            Relationship(rpms[name].spdx_id, RelationshipType.DEPENDS_ON, rpms[n].spdx_id)
            for n in needs
        ]
    listed = [image, *rpms.values()]
    if subject.base:
        base = Package(
            spdx_id="SPDXRef-base-image",
            name=subject.base,
            download_location=SpdxNoAssertion(),
            version=subject.base_digest or None,
            files_analyzed=False,
            primary_package_purpose=PackagePurpose.CONTAINER,
        )
        listed.append(base)
        relationships.append(
            Relationship(image.spdx_id, RelationshipType.DESCENDANT_OF, base.spdx_id)
        )
    info = CreationInfo(
        spdx_version="SPDX-2.3",
        spdx_id="SPDXRef-DOCUMENT",
        name=subject.tag,
        document_namespace=(
            f"https://buildahpy.invalid/spdx/{subject.tag}/{sbom.document_uuid(subject, packages)}"
        ),
        creators=[Actor(ActorType.TOOL, f"{sbom.TOOL}-{sbom.tool_version()}")],
        created=sbom.created(subject),
    )
    document = Document(
        creation_info=info,
        packages=listed,
        relationships=relationships,
        extracted_licensing_info=[
            ExtractedLicensingInfo(license_id=ref, extracted_text=text)
            for ref, text in sorted(extracted.items())
        ],
    )
    out = io.StringIO()
    write_document_to_stream(document, out, validate=False)
    return out.getvalue() + "\n"
