"""SBOMs of an image from its own rpmdb: the records both formats share, and CycloneDX 1.6.

The packages come from the one rpm query of the build (``ctx.rpmdb``, rpmdb.QUERY_FORMAT):
name, epoch, version, release, arch, License, Vendor/Packager, the source rpm, the header's
SHA-256 and SIGMD5, and each Requires resolved to the package in the image that provides it.
The image is the document's subject; the base image, when there is one, a component. Pure:
starts no process (build/sbom_spdx.py writes SPDX 2.3, build/sbom_image.py reads an image).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib.metadata import version as dist_version

import attrs
from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.contact import OrganizationalEntity
from cyclonedx.model.license import DisjunctiveLicense, LicenseExpression
from cyclonedx.output.json import JsonV1Dot6
from license_expression import get_spdx_licensing
from packageurl import PackageURL

from buildahpy.plan.distro import Target
from buildahpy.plan.packages import Package, provider_map

TOOL = "buildahpy"
IN_IMAGE_PATH = "/root/buildinfo/content_manifests/sbom-cyclonedx.json"
_NAMESPACES = {"rhel": "redhat", "ubi": "redhat"}  # as scanners spell RHEL's and UBI's purls
_LICENSING = get_spdx_licensing()


def tool_version() -> str:
    return dist_version(TOOL)


@attrs.frozen
class Subject:
    """The image the document describes. ``image_id`` is "" for the copy inside the image
    (written before the commit that gives the image its id)."""

    tag: str
    target: Target
    image_id: str = ""
    digest: str = ""
    base: str = ""  # the base image's name (``base=``), "" for scratch
    base_digest: str = ""
    created: int = 0  # the image's timestamp (plan/timestamp.py), never the wall clock


def document_uuid(subject: Subject, packages: Mapping[str, Package]) -> uuid.UUID:
    """The same for the same image and packages, so that the documents are reproducible."""
    nevras = " ".join(sorted(p.nevra for p in packages.values()))
    return uuid.uuid5(uuid.NAMESPACE_URL, f"buildahpy:{subject.tag}:{subject.image_id}:{nevras}")


def created(subject: Subject) -> datetime:
    return datetime.fromtimestamp(subject.created, UTC)


def purl(package: Package, target: Target) -> str:
    """``pkg:rpm/fedora/nginx@1.22.1-1.fc40?arch=x86_64&distro=fedora-40`` (epoch when set)."""
    header = package.header
    qualifiers = {"arch": header.arch}
    if header.epoch:
        qualifiers["epoch"] = str(header.epoch)
    qualifiers["distro"] = f"{target.os_release_id}-{target.releasever}"
    return PackageURL(
        type="rpm",
        namespace=_NAMESPACES.get(target.family, target.os_release_id),
        name=package.name,
        version=f"{header.version}-{header.release}",
        qualifiers=qualifiers,
    ).to_string()


def license_expression(tag: str) -> str | None:
    """The License tag when it is an SPDX expression, else None (never an error)."""
    try:
        info = _LICENSING.validate(tag)
    except Exception:  # license-expression raises on some garbage instead of reporting it
        return None
    return tag.strip() if tag.strip() and not info.errors else None


def license_ref(tag: str) -> str:
    """A LicenseRef naming a License tag that is no SPDX expression."""
    return "LicenseRef-rpm-" + (re.sub(r"[^A-Za-z0-9.]+", "-", tag).strip("-") or "none")


def supplier(package: Package) -> str:
    return package.header.vendor or package.header.packager


def dependencies(packages: Mapping[str, Package]) -> dict[str, list[str]]:
    """Package -> the packages of the image providing its runtime Requires (itself left out)."""
    providers = provider_map(packages)
    edges = {}
    for name, package in packages.items():
        found = {p for need in package.runtime_requires for p in providers.get(need, [])[:1]}
        edges[name] = sorted(found - {name})
    return edges


def _component(package: Package, target: Target) -> Component:
    header = package.header
    expression = license_expression(header.license)
    licenses = (
        [LicenseExpression(expression)]
        if expression
        else [DisjunctiveLicense(name=header.license or "NOASSERTION")]
    )
    hashes = [HashType(alg=HashAlgorithm.SHA_256, content=header.sha256header)]
    if re.fullmatch(r"[0-9a-f]{32}", header.sigmd5):
        hashes.append(HashType(alg=HashAlgorithm.MD5, content=header.sigmd5))
    properties = [
        Property(name="buildahpy:rpm:epoch", value=str(header.epoch)),
        Property(name="buildahpy:rpm:release", value=header.release),
        Property(name="buildahpy:rpm:arch", value=header.arch),
        Property(name="buildahpy:rpm:sourcerpm", value=header.sourcerpm or "none"),
        Property(name="buildahpy:rpm:hashes", value="SHA-256: SHA256HEADER, MD5: SIGMD5"),
    ]
    return Component(
        type=ComponentType.LIBRARY,
        name=package.name,
        version=f"{header.version}-{header.release}",
        bom_ref=purl(package, target),
        purl=PackageURL.from_string(purl(package, target)),
        licenses=licenses,
        supplier=OrganizationalEntity(name=supplier(package)) if supplier(package) else None,
        hashes=hashes if re.fullmatch(r"[0-9a-f]{64}", header.sha256header) else [],
        properties=properties,
    )


def subject_properties(subject: Subject) -> list[Property]:
    target = subject.target
    props = [
        Property(name="buildahpy:image:tag", value=subject.tag),
        Property(name="buildahpy:target", value=f"{target.family} {target.releasever}"),
        Property(
            name="buildahpy:image:id",
            value=subject.image_id or "not known: written inside the image before its commit",
        ),
    ]
    if subject.digest:
        props.append(Property(name="buildahpy:image:digest", value=subject.digest))
    return props


def cyclonedx(subject: Subject, packages: Mapping[str, Package]) -> str:
    """The CycloneDX 1.6 JSON document."""
    image = Component(
        type=ComponentType.CONTAINER,
        name=subject.tag,
        version=f"sha256:{subject.image_id}" if subject.image_id else None,
        bom_ref="image",
        properties=subject_properties(subject),
    )
    bom = Bom(serial_number=document_uuid(subject, packages))
    bom.metadata.timestamp = created(subject)
    bom.metadata.component = image
    bom.metadata.tools.components.add(
        Component(type=ComponentType.APPLICATION, name=TOOL, version=tool_version())
    )
    components = {name: _component(p, subject.target) for name, p in sorted(packages.items())}
    for component in components.values():
        bom.components.add(component)
    if subject.base:
        base = Component(
            type=ComponentType.CONTAINER,
            name=subject.base,
            version=subject.base_digest or None,
            bom_ref="base-image",
            description="the base image",
        )
        bom.components.add(base)
        bom.register_dependency(image, [base])
    bom.register_dependency(image, list(components.values()))
    for name, needs in dependencies(packages).items():
        bom.register_dependency(components[name], [components[n] for n in needs])
    return json.dumps(json.loads(JsonV1Dot6(bom).output_as_string()), indent=2) + "\n"
