"""The Boltzmann wealth model in Mesa, as its tutorial writes it, timed like
`watchtower bench engine --model boltzmann`: agent-steps per second after a warm-up.

One change from the tutorial, in Mesa's favour: the receiver is drawn from a list of
agents built once, not from `self.model.agents` (an AgentSet, whose indexing copies its
keys into a new list on every draw and makes the tutorial's step quadratic in N).

    python3 mesa_boltzmann.py 1000 10000 100000    # sizes; prints one JSON line per size
"""

import json
import sys
import time

import mesa


class MoneyAgent(mesa.Agent):
    def __init__(self, model):
        super().__init__(model)
        self.wealth = 1

    def exchange(self):
        if self.wealth > 0:
            other = self.random.choice(self.model.agent_list)
            other.wealth += 1
            self.wealth -= 1


class MoneyModel(mesa.Model):
    def __init__(self, n, seed=1):
        super().__init__(seed=seed)
        MoneyAgent.create_agents(model=self, n=n)
        self.agent_list = list(self.agents)

    def step(self):
        self.agents.shuffle_do("exchange")


def measure(n, seconds=3.0, warmup=5):
    model = MoneyModel(n)
    for _ in range(warmup):
        model.step()
    ticks, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        model.step()
        ticks += 1
    elapsed = time.perf_counter() - start
    assert sum(a.wealth for a in model.agent_list) == n, "money is conserved"
    return {"framework": "mesa", "version": mesa.__version__, "agents": n,
            "ticks_per_s": ticks / elapsed, "agent_steps_per_s": n * ticks / elapsed}


if __name__ == "__main__":
    for size in [int(a) for a in sys.argv[1:]] or [1000, 10000, 100000]:
        print(json.dumps(measure(size)), flush=True)
