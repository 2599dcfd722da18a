from dataclasses import dataclass

import cfcompile as cf


@dataclass
class Params(cf.ExperimentParameters):
    x: int = 1
