"""SBOM documents from rpmdb records: purls, licenses, hashes, edges; both validate."""

from __future__ import annotations

import json

import attrs
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from spdx_tools.spdx.parser.jsonlikedict.json_like_dict_parser import JsonLikeDictParser
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

from buildahpy.build import sbom, sbom_spdx
from buildahpy.plan.distro import Target
from buildahpy.plan.packages import Header, Package

FEDORA = Target("fedora", "40")


def rpm(name: str, license: str, requires: tuple[str, ...] = (), epoch: int = 0) -> Package:
    header = Header(
        epoch,
        "1.22.1",
        "1.fc40",
        "x86_64",
        license,
        "Fedora Project",
        "",
        f"{name}.src.rpm",
        "ab" * 32,
        "cd" * 16,
    )
    reqs = tuple((r, 0) for r in requires)
    return Package(
        name, f"{name}-1.22.1-1.fc40.x86_64", 1, reqs, (), (f"lib{name}.so",), (), header
    )


PACKAGES = {
    "nginx": rpm("nginx", "BSD-2-Clause", ("libglibc.so", "libpcre.so", "rpmlib(X)")),
    "glibc": rpm("glibc", "LGPL-2.1-or-later AND LicenseRef-Fedora-Public-Domain", epoch=2),
    "pcre": rpm("pcre", "BSD and GPLv2+ (weird"),
}
SUBJECT = sbom.Subject(
    "localhost/nginx:latest",
    FEDORA,
    "1" * 64,
    "sha256:" + "2" * 64,
    "localhost/base:latest",
    "sha256:" + "3" * 64,
)


def test_purls_are_what_scanners_emit() -> None:
    assert sbom.purl(PACKAGES["nginx"], FEDORA) == (
        "pkg:rpm/fedora/nginx@1.22.1-1.fc40?arch=x86_64&distro=fedora-40"
    )
    assert sbom.purl(PACKAGES["glibc"], Target("ubi", "9")) == (
        "pkg:rpm/redhat/glibc@1.22.1-1.fc40?arch=x86_64&distro=rhel-9&epoch=2"
    )


def test_dependencies_resolve_to_providers_in_the_image() -> None:
    assert sbom.dependencies(PACKAGES) == {"nginx": ["glibc", "pcre"], "glibc": [], "pcre": []}


def test_cyclonedx_validates_and_says_what_rpm_says() -> None:
    text = sbom.cyclonedx(SUBJECT, PACKAGES)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    doc = json.loads(text)
    assert doc["specVersion"] == "1.6"
    subject = doc["metadata"]["component"]
    assert (subject["type"], subject["name"]) == ("container", "localhost/nginx:latest")
    assert doc["metadata"]["tools"]["components"][0]["name"] == "buildahpy"
    by_name = {c["name"]: c for c in doc["components"]}
    assert by_name["localhost/base:latest"]["version"] == "sha256:" + "3" * 64
    nginx = by_name["nginx"]
    assert nginx["licenses"] == [{"expression": "BSD-2-Clause"}]
    assert by_name["pcre"]["licenses"] == [{"license": {"name": "BSD and GPLv2+ (weird"}}]
    assert nginx["supplier"]["name"] == "Fedora Project"
    assert {h["alg"]: h["content"] for h in nginx["hashes"]} == {
        "SHA-256": "ab" * 32,
        "MD5": "cd" * 16,
    }
    edges = {d["ref"]: d.get("dependsOn", []) for d in doc["dependencies"]}
    assert sorted(edges[nginx["bom-ref"]]) == sorted(
        by_name[n]["bom-ref"] for n in ("glibc", "pcre")
    )


def test_spdx_validates_and_keeps_unparsable_licenses_as_refs() -> None:
    doc = json.loads(sbom_spdx.spdx(SUBJECT, PACKAGES))
    assert validate_full_spdx_document(JsonLikeDictParser().parse(doc)) == []
    by_name = {p["name"]: p for p in doc["packages"]}
    assert by_name["pcre"]["licenseDeclared"].startswith("LicenseRef-rpm-BSD-and-GPLv2")
    refs = {e["licenseId"]: e["extractedText"] for e in doc["hasExtractedLicensingInfos"]}
    assert refs[by_name["pcre"]["licenseDeclared"]] == "BSD and GPLv2+ (weird"
    assert "LicenseRef-Fedora-Public-Domain" in refs
    purls = [r["referenceLocator"] for r in by_name["glibc"]["externalRefs"]]
    assert purls == ["pkg:rpm/fedora/glibc@1.22.1-1.fc40?arch=x86_64&distro=fedora-40&epoch=2"]
    kinds = {
        (r["spdxElementId"], r["relationshipType"], r["relatedSpdxElement"])
        for r in doc["relationships"]
    }
    assert ("SPDXRef-rpm-nginx", "DEPENDS_ON", "SPDXRef-rpm-pcre") in kinds
    assert ("SPDXRef-image", "DESCENDANT_OF", "SPDXRef-base-image") in kinds


def test_the_same_image_gives_the_same_documents_dated_by_its_timestamp() -> None:
    dated = attrs.evolve(SUBJECT, created=1_700_000_000)
    for write in (sbom.cyclonedx, sbom_spdx.spdx):
        first, second = write(dated, PACKAGES), write(dated, PACKAGES)
        assert first == second, write.__name__
        assert "2023-11-14T22:13:20" in first, write.__name__  # the image's time, not the clock
        other = write(attrs.evolve(dated, image_id="f" * 64), PACKAGES)
        assert other != first, write.__name__  # another image, another serial or namespace
