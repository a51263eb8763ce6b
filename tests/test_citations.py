"""Every figure shown to users cites a public source: never an internal notes file or a path."""
from pathlib import Path

from tpworkers.diagnose.inputs import load
from tpworkers.diagnose.findings import diagnose
from tpworkers.catalog.gpus import GPUS
from tpworkers.catalog.links import LINKS, assumed_pcie, nvlink_bond, pcie_link

FIXTURES = Path(__file__).parent / "fixtures" / "nvsmi"
PRIVATE = ("/work/", "facts.md")


def private_parts(text: str) -> list[str]:
    return [word for word in PRIVATE if word in text]


def test_it_cites_only_public_sources_in_the_catalogs():
    sources = [link.source for link in LINKS.values()] + [gpu.source for gpu in GPUS]
    sources += [nvlink_bond(4, 4).source, pcie_link(4, 8).source, assumed_pcie("").source]
    assert all(source.strip() for source in sources)
    assert {s: private_parts(s) for s in sources if private_parts(s)} == {}


def test_it_cites_only_public_sources_in_findings(tmp_path):
    launch = tmp_path / "launch.txt"
    launch.write_text("CUDA_VISIBLE_DEVICES=0,1 vllm serve google/gemma-2-27b-it -tp 2\n"
                      "vllm serve meta-llama/Llama-3.1-70B -tp 4\n")
    texts = []
    for node in sorted({p.name.split(".")[0] for p in FIXTURES.glob("*.txt")}):
        files = [str(p) for p in sorted(FIXTURES.glob(f"{node}.*"))]
        found = diagnose(load([*files, str(launch)]))
        texts += [e.source for f in found for e in f.evidence] + [f.recommendation for f in found]
    assert [t for t in texts if "http" in t] # the catalogs' links reach the findings
    assert [t for t in texts if private_parts(t)] == []
