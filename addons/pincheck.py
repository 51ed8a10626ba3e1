"""mitm-pincheck as a mitmproxy script addon.

    mitmdump -s addons/pincheck.py --set pincheck_scenario=my-app.yaml \
        --set pincheck_out=pincheck-out

Works in mitmdump and mitmweb. The addon runs the scenario's phases, writes journal.jsonl and the
reports to `pincheck_out`, then shuts the proxy down (set `pincheck_keep_running=true` to keep
proxying, with every host passed through, after the last phase; `pincheck_client=ADDR|CIDR` counts
only those clients' connections, as `run --client` does).
"""

import sys
from pathlib import Path

try:
    from mitm_pincheck.proxy.standalone import script_addons
except ImportError:  # run from a checkout without `pip install`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from mitm_pincheck.proxy.standalone import script_addons

addons = script_addons()
