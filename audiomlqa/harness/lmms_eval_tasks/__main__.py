import sys

from audiomlqa.harness.lmms_eval_tasks import main

sys.exit(main())
