# Entry point of a python3-http function (fprocess "python3 index.py"): starts the HyperFaaS Python runtime for this
# folder, which serves ./function/handler.py on $http_port (default 3000). In a container the runtime is copied from
# the watchdog image to /home/app/runtime; on the local backend the watchdog says where it is (HYPERFAAS_PYTHON_RUNTIME).
import importlib.util
import os
import sys
import threading

here = os.path.dirname(os.path.abspath(__file__))
candidates = [os.environ.get('HYPERFAAS_PYTHON_RUNTIME'), os.path.join(here, 'runtime', 'server.py'), '/home/app/runtime/server.py']
runtime = next((p for p in candidates if p and os.path.isfile(p)), None)
if runtime is None:
    print('HyperFaaS python runtime not found (tried ' + ', '.join(p for p in candidates if p) + ')', file=sys.stderr)
    sys.exit(1)

spec = importlib.util.spec_from_file_location('hyperfaas_python_runtime', runtime)
rt = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rt)
server = rt.serve(here)
print(f'python3-http function listening on port {server.server_address[1]}', flush=True)
threading.Event().wait()
