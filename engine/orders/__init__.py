"""Torch-free: what the bot and the CLI ask of the engine, checked and queued in SQLite.

``enrolment`` (a /train: photos validated, a pet and its training job in one transaction),
``imagine`` (an /imagine: pet, prompt and limits checked, a ``generate`` job queued),
``status`` (queue positions and ETAs), ``lora_files`` (where a pet's weights are on disk).
The GPU side (``training``, ``generation``, ``models``) only ever reads what these queued."""
