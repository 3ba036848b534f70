"""Paper scale: when one machine is not enough (README, 'When one machine is not enough').

  distributed   one model on several GPUs or nodes: torchrun + DistributedDataParallel
  prefill       a chapter's zoo models as a SLURM job array through submitit (or its local executor)
  imagenet      Restricted ImageNet and ImageNet-64, streamed from the user's ImageNet folder
"""
