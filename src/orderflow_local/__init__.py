"""Local AWS for orderflow: an embedded emulator (moto server), a deploy of the synthesized
template into it, and our own faithful emulation of Lambda's SQS event source mapping.

Never bundled into the Lambda.
"""
