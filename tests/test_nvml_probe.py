"""NVML probe against a small fake of the pynvml call surface (this machine has no driver)."""
from types import SimpleNamespace

import pynvml

from tpworkers.diagnose.nvml_probe import describe, error_counter_increases, main, probe


class FakeNVMLError(Exception):
    def __init__(self, text):
        super().__init__(text)


class FakeNVML:
    """Just the pynvml functions the probe calls. ``gpus`` entries: dict with name, bus, links
    (list of (active, remote_bus, errors)), pcie (cur gen, max gen, cur width, max width)."""
    NVMLError = FakeNVMLError
    NVML_NVLINK_MAX_LINKS = 36

    def __init__(self, gpus, levels, nvlink_p2p=True, unsupported=(), missing=()):
        self.gpus, self.levels, self.nvlink_p2p = gpus, levels, nvlink_p2p
        self.unsupported = set(unsupported)  # calls that raise NVMLError "Not Supported"
        self.missing = set(missing)  # calls this fake nvidia-ml-py has no binding for
        self.shut_down = False

    def __getattribute__(self, name):
        if name in object.__getattribute__(self, "__dict__").get("missing", ()):
            raise AttributeError(f"module 'pynvml' has no attribute '{name}'")
        if name in object.__getattribute__(self, "__dict__").get("unsupported", ()):
            def refuse(*args):
                raise FakeNVMLError("Not Supported")
            return refuse
        return object.__getattribute__(self, name)

    def nvmlInit(self): pass
    def nvmlShutdown(self): self.shut_down = True
    def nvmlSystemGetDriverVersion(self): return "550.54.15"
    def nvmlSystemGetCudaDriverVersion(self): return 12040
    def nvmlDeviceGetCount(self): return len(self.gpus)
    def nvmlDeviceGetHandleByIndex(self, i): return i
    def nvmlDeviceGetName(self, h): return self.gpus[h]["name"]
    def nvmlDeviceGetUUID(self, h): return f"GPU-{h:08x}-0000-0000-0000-000000000000"
    def nvmlDeviceGetPciInfo(self, h): return SimpleNamespace(busId=self.gpus[h]["bus"].encode())
    def nvmlDeviceGetMemoryInfo(self, h): return SimpleNamespace(total=94 * 10**9)
    def nvmlDeviceGetNumaNodeId(self, h): return h // 2
    def nvmlDeviceGetCurrPcieLinkGeneration(self, h): return self.gpus[h]["pcie"][0]
    def nvmlDeviceGetMaxPcieLinkGeneration(self, h): return self.gpus[h]["pcie"][1]
    def nvmlDeviceGetCurrPcieLinkWidth(self, h): return self.gpus[h]["pcie"][2]
    def nvmlDeviceGetMaxPcieLinkWidth(self, h): return self.gpus[h]["pcie"][3]

    def nvmlDeviceGetTopologyCommonAncestor(self, a, b): return self.levels[(a, b)]

    def nvmlDeviceGetP2PStatus(self, a, b, index):
        return 0 if index == 0 or self.nvlink_p2p else 5

    def _link(self, h, link):
        links = self.gpus[h]["links"]
        if not links:
            raise FakeNVMLError("Not Supported")
        if link >= len(links):
            raise FakeNVMLError("Invalid Argument")
        return links[link]

    def nvmlDeviceGetNvLinkState(self, h, link): return 1 if self._link(h, link)[0] else 0
    def nvmlDeviceGetNvLinkVersion(self, h, link):  # nvmlNvlinkVersion_t of the GPU
        self._link(h, link)
        return self.gpus[h].get("nvlink_enum", pynvml.NVML_NVLINK_VERSION_4_0)
    def nvmlDeviceGetNvLinkRemotePciInfo(self, h, link):
        return SimpleNamespace(busId=self._link(h, link)[1])
    def nvmlDeviceGetNvLinkErrorCounter(self, h, link, counter):
        return self._link(h, link)[2][counter]


BUS = ["00000000:1B:00.0", "00000000:43:00.0", "00000000:52:00.0", "00000000:61:00.0"]


def h100_nvl_node(link_errors=(0, 0, 0, 0), gpu0_links_up=False):
    """4x H100 NVL, bridges 0-1 and 2-3 with 12 links each; the 0-1 bridge is down."""
    def links(g):
        peer = g ^ 1
        up = g >= 2 or gpu0_links_up
        return [(up, BUS[peer], list(link_errors)) for _ in range(12)]
    gpus = [{"name": "NVIDIA H100 NVL", "bus": BUS[g], "links": links(g),
             "pcie": (5, 5, 16, 16) if g != 3 else (4, 5, 8, 16)} for g in range(4)]
    levels = {(a, b): 40 if a // 2 == b // 2 else 50 for a in range(4) for b in range(4)}
    return FakeNVML(gpus, levels)


class NoDriver:
    NVMLError = pynvml.NVMLError

    def nvmlInit(self):
        raise pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)


def test_it_reports_a_missing_driver_as_a_state_not_a_crash():
    node = probe(NoDriver(), hostname="no-driver")
    assert node.probe_status == "unavailable"
    assert node.reasons == ["nvmlInit: NVML Shared Library Not Found"]
    assert "unavailable" in describe(node)


def test_it_reads_gpus_pcie_and_links_marked_as_nvml():
    fake = h100_nvl_node()
    node = probe(fake, hostname="nvl")
    assert node.probe_status == "ok" and fake.shut_down
    gpu3 = node.gpu(3)
    assert (gpu3.name, gpu3.pci_bus_id, gpu3.memory_bytes) == ("NVIDIA H100 NVL", BUS[3], 94e9)
    assert (gpu3.pcie_gen_current, gpu3.pcie_width_current, gpu3.pcie_width_max) == (4, 8, 16)
    assert gpu3.sources["pcie_width_current"] == "reported-nvml"
    assert len(gpu3.nvlinks) == 12 and gpu3.nvlinks[0].remote_gpu == 2
    assert node.find_pair(2, 3).nvlink_count == 12
    assert node.find_pair(0, 1).nvlink_count == 0
    assert node.find_pair(0, 1).path == "NODE" and node.find_pair(0, 2).path == "SYS"
    assert node.driver_version == "550.54.15" and node.cuda_version == "12.4"


def test_it_records_an_unsupported_query_once_with_its_exact_message():
    fake = h100_nvl_node()
    fake.unsupported = {"nvmlDeviceGetCurrPcieLinkWidth"}
    node = probe(fake)
    assert node.probe_status == "partial"
    assert node.reasons == ["nvmlDeviceGetCurrPcieLinkWidth: Not Supported (GPU 0, GPU 1, GPU 2, GPU 3)"]
    assert node.gpu(0).pcie_width_current is None and node.gpu(0).name == "NVIDIA H100 NVL"


def test_it_keeps_the_probe_ok_when_only_optional_counters_are_unsupported():
    fake = h100_nvl_node()
    fake.unsupported = {"nvmlDeviceGetNvLinkErrorCounter", "nvmlDeviceGetNumaNodeId"}
    node = probe(fake)
    assert node.probe_status == "ok" and len(node.reasons) == 2
    assert ("nvmlDeviceGetNvLinkErrorCounter: Not Supported (GPU 0 links 0-11, GPU 1 links 0-11, "
            "GPU 2 links 0-11, GPU 3 links 0-11)") in node.reasons
    assert node.gpu(2).nvlinks[0].errors is None and node.gpu(0).gpu_numa_id is None


def test_it_treats_a_missing_binding_as_not_supported():
    fake = h100_nvl_node()
    fake.missing = {"nvmlDeviceGetNvLinkVersion", "nvmlDeviceGetTopologyCommonAncestor"}
    node = probe(fake)
    assert node.probe_status == "partial" and node.gpu(2).nvlinks[0].version is None
    assert len(node.reasons) == 2 and all("not supported by this nvidia-ml-py" in r for r in node.reasons)
    assert node.find_pair(0, 1).path is None and node.find_pair(2, 3).nvlink_count == 12


def test_it_maps_nvmls_nvlink_version_enum_to_the_generation():
    fake = h100_nvl_node()
    assert probe(fake).gpu(2).nvlinks[0].version == 4  # H100: NVML_NVLINK_VERSION_4_0 = 6
    for gpu in fake.gpus:
        gpu["nvlink_enum"] = pynvml.NVML_NVLINK_VERSION_3_0  # what an A100 reports
    assert probe(fake).gpu(2).nvlinks[0].version == 3
    for gpu in fake.gpus:
        gpu["nvlink_enum"] = pynvml.NVML_NVLINK_VERSION_5_0
    assert probe(fake).gpu(2).nvlinks[0].version == 5


def test_it_reports_gpus_without_nvlink_once_per_gpu():
    fake = h100_nvl_node()
    for gpu in fake.gpus:
        gpu["links"] = []
    node = probe(fake)
    assert all(not g.nvlinks for g in node.gpus) and node.probe_status == "ok"
    assert node.reasons == ["nvmlDeviceGetNvLinkState: Not Supported "
                            "(GPU 0 link 0, GPU 1 link 0, GPU 2 link 0, GPU 3 link 0)"]


def test_it_gives_switched_pairs_all_active_links():
    switch = "00000005:00:00.0"
    gpus = [{"name": "NVIDIA H100 80GB HBM3", "bus": BUS[g], "pcie": (5, 5, 16, 16),
             "links": [(True, switch, [0, 0, 0, 0])] * 18} for g in range(2)]
    node = probe(FakeNVML(gpus, {(0, 1): 20}))
    assert node.find_pair(0, 1).nvlink_count == 18


def test_it_compares_error_counters_between_two_probes():
    before = probe(h100_nvl_node(link_errors=(0, 0, 5, 0)))
    after = probe(h100_nvl_node(link_errors=(3, 0, 5, 0)))
    grown = error_counter_increases(before, after)
    assert (2, 0, "replay", 3) in grown
    assert not [g for g in grown if g[2] == "crc_flit"]
    assert error_counter_increases(after, after) == []


def test_it_probes_the_real_machine_without_raising(capsys):
    node = probe()
    assert node.probe_status in {"ok", "partial", "unavailable"}
    assert node.probe_status != "unavailable" or node.reasons
    assert main(["--json"]) == 0
    assert f'"probe_status": "{node.probe_status}"' in capsys.readouterr().out
