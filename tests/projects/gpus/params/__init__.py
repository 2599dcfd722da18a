from dataclasses import dataclass

import cfcompile as cf


@dataclass
class Params(cf.ExperimentParameters):
    seed: int = 0
