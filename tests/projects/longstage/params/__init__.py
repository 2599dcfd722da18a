from dataclasses import dataclass

import cfcompile as cf


@dataclass
class Params(cf.ExperimentParameters):
    steps: int = 10
    checkpoint: bool = True
