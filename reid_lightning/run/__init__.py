"""What train.py and eval.py do once Hydra has composed the config: build (config -> data module and
model -> trainer), fit and test, and leave the run's records (train, evaluate); plus the plumbing they
need: config resolvers, checkpoint checks, and the DDP launch fix for multiruns."""
