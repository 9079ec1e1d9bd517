"""The whole pipeline on one machine: emulator + template deploy + event source mappings."""

from __future__ import annotations

import functools
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orderflow_local.cloudwatch.alarms import DEFAULT_PERIOD_SCALE, AlarmMonitor, Evaluation, QueueSource
from orderflow_local.cloudwatch.logs import FunctionLogs
from orderflow_local.cloudwatch.metrics import MetricStore, record_invocation
from orderflow_local.emulator import DEFAULT_PORT, REGION, Emulator, RoleCredentials
from orderflow_local.lambda_runtime.chaos import ChaosConfig, FaultReader, count_faults
from orderflow_local.lambda_runtime.environment import TASK_ROOT, EnvironmentPool, FunctionConfig
from orderflow_local.lambda_runtime.esm import EventSourceMapping, MappingConfig
from orderflow_local.lambda_runtime.pipe_chaos import TargetChaos, chaotic_target
from orderflow_local.lambda_runtime.pipes import PipeConfig, StreamPipe
from orderflow_local.lambda_runtime.reload import STACK_SOURCES, Watcher, forget_bytecode, handler_sources
from orderflow_local.stack.deploy import DeployedStack, deploy
from orderflow_local.stack.synthesis import ROOT, ensure_template, template_for
from orderflow_local.stack.template import STACK_ID, FunctionSpec, StackSpec, TemplateError, load_template
from orderflow_local.stack.ttl import TtlSweeper

if TYPE_CHECKING:
    from collections import Counter
    from collections.abc import Callable

    from orderflow_local.cloudwatch.alarms import AlarmSpec
    from orderflow_local.payments import PaymentProvider

log = logging.getLogger(__name__)

#: A function with this variable calls the payment provider at that URL: locally, the embedded one.
PAYMENT_API_URL = "PAYMENT_API_URL"
#: ... with the API key held in the secret this variable names.
PAYMENT_API_KEY_SECRET = "PAYMENT_API_KEY_SECRET"  # noqa: S105 - a variable's name
#: How long the provider keeps an idempotency key (Stripe's 24 hours: https://docs.stripe.com/api/idempotent_requests).
PROVIDER_KEY_TTL = 24 * 3600.0
#: The order processor's entry point: `--handler` replaces it (and only it, when the template has it).
ORDER_HANDLER = "orderflow.handler.lambda_handler"


@dataclass
class StackOptions:
    """How to run the local stack; every default reproduces the template as deployed."""

    port: int = DEFAULT_PORT
    #: A synthesized template to run as is (None: the app's, synthesized with ``context`` when
    #: missing or older than its sources).
    template: Path | None = None
    #: CDK context, as ``-c KEY=VALUE`` gives it: ``fifo=true``, ``fanout=true``, ``stage=prod``.
    context: dict[str, str] = field(default_factory=dict)
    #: Run this handler ("module:function") instead of the stack's.
    handler: str | None = None
    visibility_timeout: int | None = None
    function_timeout: float | None = None
    #: Replaces the template's MaximumBatchingWindowInSeconds where it has one (whole seconds, as
    #: AWS takes it): `orderflow up --batching-window 1` delivers sooner while iterating, and the
    #: tests wait 1 s for a batch instead of 5. A mapping without a window (FIFO) keeps none.
    batching_window: int | None = None
    #: Where the function's log lines go (None: discarded).
    log_path: Path | None = None
    ttl_sweep_interval: float = 60.0
    #: Extra environment for the function (tests).
    function_environment: dict[str, str] = field(default_factory=dict)
    #: Probability per AWS call of an injected fault in the function (0: none).
    chaos_rate: float = 0.0
    chaos_seed: int = 0
    #: Only these kinds of fault (None: every kind in lambda_runtime.chaos.FAULT_KINDS, the pipe's included).
    chaos_only: tuple[str, ...] | None = None
    #: Added to every DynamoDB call the function makes, as real DynamoDB's network time.
    ddb_latency_ms: float = 0.0
    #: Hot reload: a change to the function's code replaces its environments (orderflow_local.lambda_runtime.reload).
    reload: bool = False
    #: The function (and its event source mapping) run as its execution role from the template,
    #: and calls the role does not allow fail with AccessDenied (orderflow_local.emulator.patches.iam).
    iam: bool = True
    #: Run the embedded AWS in a process of its own (its own GIL), apart from the event source
    #: mapping's pollers, the live display and the journal (docs/performance.md).
    emulator_process: bool = True
    #: The function's logs go to the embedded CloudWatch Logs, as Lambda sends them (orderflow_local.cloudwatch.logs).
    function_logs: bool = True
    #: Evaluate the template's alarms against the local run (orderflow_local.cloudwatch.alarms).
    alarms: bool = True
    #: Alarm periods are divided by this locally (30: a 300 s period is evaluated over 10 s).
    alarm_period_scale: float = DEFAULT_PERIOD_SCALE
    #: Faults the embedded payment provider injects (0: none): latency, 429, 500 and responses lost after
    #: the charge (orderflow_local.payments).
    provider_chaos_rate: float = 0.0
    provider_chaos_seed: int = 0
    #: Only these functions' event source mappings run (by function name, such as ``OrderProcessor``);
    #: None: every function's. A test knob: a test of the order service alone does not pay for the
    #: payment and notification services' work on every order it sends.
    functions: tuple[str, ...] | None = None
    #: Where the stack is defined (a change there is reported: a restart applies it).
    stack_sources: tuple[Path, ...] = tuple(ROOT / name for name in STACK_SOURCES)


class LocalStack:
    """Start with ``with LocalStack(StackOptions(...)) as stack:``; everything stops on exit."""

    def __init__(self, options: StackOptions | None = None, *, progress: Callable[[str], None] = log.info) -> None:
        self.options = options or StackOptions()
        self.emulator = Emulator(
            port=self.options.port, own_process=self.options.emulator_process, enforce_iam=self.options.iam
        )
        self.progress = progress
        self.deployed: DeployedStack | None = None
        self.mappings: list[EventSourceMapping] = []
        #: The template's EventBridge Pipes (a DynamoDB stream to a bus), run by our own poller.
        self.pipes: list[StreamPipe] = []
        self.pools: list[EnvironmentPool] = []
        #: The role each function runs as, by function name (empty when IAM is not enforced).
        self.roles: dict[str, str] = {}
        self.warnings: list[str] = []
        self._sweeper: TtlSweeper | None = None
        self._watchers: list[Watcher] = []
        #: Code changes picked up by hot reload so far.
        self.reloads = 0
        self._scratch = tempfile.TemporaryDirectory(prefix="orderflow-")
        self.chaos_journal = Path(self._scratch.name) / "chaos.log"
        #: The function's logs, one sender per function (when ``function_logs``).
        self.function_logs: list[FunctionLogs] = []
        #: What the local run measured, for the alarms: Lambda, SQS, DynamoDB and EMF metrics.
        # kept as long as the console's dashboard shows: CloudWatch's 3 hours, scaled as the periods are
        self.metrics = MetricStore(retention=max(3600.0, 3 * 3600 / self.options.alarm_period_scale))
        self.alarm_monitor: AlarmMonitor | None = None
        #: Alarm state changes so far: (alarm name, old state, evaluation).
        self.alarm_changes: list[tuple[str, str, Evaluation]] = []
        #: Called with each alarm state change, on the alarm monitor's thread (the console's feed).
        self.alarm_listeners: list[Callable[[AlarmSpec, str, Evaluation], None]] = []
        self._template: Path | None = None
        #: The embedded payment provider, when a function of the template calls one (``PAYMENT_API_URL``).
        self.payment_provider: PaymentProvider | None = None

    def start(self) -> LocalStack:
        if self.options.template is not None:
            template = self.options.template  # used as given: a test's or a user's own template
        else:
            context = self.options.context
            template = ensure_template(template_for(context), context=context, progress=self.progress)
        spec = load_template(template)
        self._template = template
        self.emulator.start()
        try:
            self._deploy_and_run(spec)
        except BaseException:
            self.stop()
            raise
        return self

    def _batching_window(self, templates: int) -> int:
        chosen = self.options.batching_window
        return templates if chosen is None or not templates else chosen

    def _deploy_and_run(self, spec: StackSpec) -> None:
        sqs, dynamodb = self.emulator.sqs(), self.emulator.dynamodb()
        self.deployed = deploy(
            spec,
            sqs=sqs,
            dynamodb=dynamodb,
            iam=self.emulator.iam() if self.options.iam else None,
            sns=self.emulator.sns(),
            logs=self.emulator.logs() if self.options.function_logs else None,
            cloudwatch=self.emulator.cloudwatch() if self.options.alarms else None,
            events=self.emulator.events(),
            secretsmanager=self.emulator.client("secretsmanager"),
            sesv2=self.emulator.client("sesv2"),
        )
        self._start_payment_provider(self.deployed)
        oldest_received: dict[str, Callable[[], float | None]] = {}
        for mapping in spec.mappings:
            if (
                self.options.functions is not None
                and spec.functions[mapping.function].name not in self.options.functions
            ):
                continue  # not consumed here: its queue keeps what reaches it
            queue = self.deployed.queues[mapping.source_queue]
            visibility = self.options.visibility_timeout or spec.queues[mapping.source_queue].visibility_timeout
            if self.options.visibility_timeout:
                sqs.set_queue_attributes(QueueUrl=queue.url, Attributes={"VisibilityTimeout": str(visibility)})
            function = spec.functions[mapping.function]
            credentials = self._credentials(function)
            config = function_config(
                function,
                self.deployed,
                self.options,
                emulator_environment=self.emulator.environment(),
                credentials=credentials,
                chaos_journal=self.chaos_journal,
                capture_dir=self._scratch.name if self.options.function_logs else None,
            )
            mapping_config = MappingConfig(
                queue_url=queue.url,
                queue_arn=queue.arn,
                visibility_timeout=visibility,
                function_timeout=config.timeout,
                batch_size=mapping.batch_size,
                batching_window=self._batching_window(mapping.batching_window),
                report_batch_item_failures=mapping.report_batch_item_failures,
                max_concurrency=mapping.max_concurrency,
                fifo=spec.queues[mapping.source_queue].fifo,
                region=REGION,
            )
            pool = EnvironmentPool(config)
            self.pools.append(pool)
            if self.options.function_logs:
                logs = FunctionLogs(
                    self.emulator.logs,
                    group=function.log_group,
                    function_name=function.name,
                    memory_size=function.memory_size,
                ).start()
                self.function_logs.append(logs)
                pool.observers.append(logs.record)
            pool.observers.append(functools.partial(record_invocation, self.metrics, function.name))
            # On AWS the event source mapping polls with the function's role too.
            runner = EventSourceMapping(
                mapping_config,
                sqs_factory=functools.partial(self.emulator.sqs, credentials),
                invoker=pool,
                on_warning=self.warnings.append,
            )
            self.mappings.append(runner.start())
            oldest_received[mapping.source_queue] = runner.stats.take_oldest_age
        self._run_pipes(self.deployed)
        if self.options.alarms and self.deployed.alarms:
            self._monitor_alarms(self.deployed.alarms, oldest_received)
        self._sweeper = TtlSweeper(
            self.emulator.dynamodb, list(self.deployed.tables.values()), interval=self.options.ttl_sweep_interval
        ).start()
        if self.options.reload:
            self._watch()

    def _start_payment_provider(self, deployed: DeployedStack) -> None:
        """Start the embedded payment provider for the functions that call one (``PAYMENT_API_URL``),
        with the API key of the secret they read it from, and point them at it.

        Its idempotency keys live 24 hours divided by the alarm period scale, as the alarms' periods are.
        """
        callers = [function for function in deployed.spec.functions.values() if PAYMENT_API_URL in function.environment]
        if not callers:
            return
        from orderflow_local.payments import PaymentProvider, ProviderFaults

        environment = deployed.function_environment(callers[0])
        api_key = deployed.secret_value(environment.get(PAYMENT_API_KEY_SECRET, ""))
        if api_key is None:
            raise TemplateError(
                f"{callers[0].logical_id}: {PAYMENT_API_KEY_SECRET} must name one of the template's "
                "AWS::SecretsManager::Secret resources (the provider's API key)"
            )
        options = self.options
        faults = (
            ProviderFaults(rate=options.provider_chaos_rate, seed=options.provider_chaos_seed)
            if options.provider_chaos_rate
            else None
        )
        self.payment_provider = PaymentProvider(
            api_key, key_ttl_seconds=PROVIDER_KEY_TTL / options.alarm_period_scale, faults=faults
        ).start()
        deployed.environment_overrides[PAYMENT_API_URL] = self.payment_provider.url
        self.progress(f"payment provider on {self.payment_provider.url} (in place of {environment[PAYMENT_API_URL]})")

    def _run_pipes(self, deployed: DeployedStack) -> None:
        """Start each pipe as its role (as EventBridge Pipes assumes it), from the stream's latest record."""
        for logical_id, properties in deployed.pipes.items():
            name = deployed.spec.pipes[logical_id].name
            config = PipeConfig.from_properties(name, properties)
            role = str(properties["RoleArn"])
            credentials = self.emulator.assume_role(role, session_name=name) if self.options.iam else None
            if credentials is not None:
                self.roles[name] = role
            factory: Callable[[str], Any] = functools.partial(self.emulator.client, credentials=credentials)
            if self.options.chaos_rate:  # its PutEvents to the bus fails as EventBridge's can, in the same journal
                chaos = TargetChaos(
                    rate=self.options.chaos_rate,
                    seed=self.options.chaos_seed,
                    journal=str(self.chaos_journal),
                    only=self.options.chaos_only,
                )
                factory = chaotic_target(factory, chaos, pipe=name)
            pipe = StreamPipe(config, client_factory=factory)
            self.pipes.append(pipe.start())
        for pipe in self.pipes:  # LATEST: a pipe sees what is written once it has its shard iterators
            if not pipe.wait_ready(10):
                self.warnings.append(f"pipe {pipe.config.name} did not reach its stream's shards in 10 s")

    def _monitor_alarms(self, alarms: list[AlarmSpec], oldest_received: dict[str, Callable[[], float | None]]) -> None:
        if self.deployed is None:
            return
        queues = [
            QueueSource(queue.name, queue.url, oldest_received.get(logical_id))
            for logical_id, queue in self.deployed.queues.items()
        ]
        tables = list(self.deployed.tables.values())
        self.alarm_monitor = AlarmMonitor(
            alarms,
            self.metrics,
            cloudwatch=self.emulator.cloudwatch,
            sqs=self.emulator.sqs,
            sns=self.emulator.sns,
            queues=queues,
            throttles=_write_throttles(self.chaos_journal) if self.options.chaos_rate else None,
            table_name=tables[0] if tables else "",
            period_scale=self.options.alarm_period_scale,
            on_change=self._alarm_changed,
        ).start()

    def _alarm_changed(self, alarm: AlarmSpec, previous: str, evaluation: Evaluation) -> None:
        self.alarm_changes.append((alarm.name, previous, evaluation))
        for listener in self.alarm_listeners:
            try:
                listener(alarm, previous, evaluation)
            except Exception:  # a listener's failure must not stop the alarm monitor
                log.exception("an alarm listener failed")
        if previous != "INSUFFICIENT_DATA" or evaluation.state != "OK":
            self.progress(f"alarm {alarm.name}: {previous} -> {evaluation.state}: {evaluation.reason}")

    def _credentials(self, function: FunctionSpec) -> RoleCredentials | None:
        role = self.deployed.role_of(function) if self.options.iam and self.deployed else None
        if role is None:
            if self.options.iam:
                self.warnings.append(f"{function.name} has no role in the template: IAM is not enforced for it")
            return None
        self.roles[function.name] = role
        return self.emulator.assume_role(role, session_name=function.name)

    @property
    def watched(self) -> list[Path]:
        """The function code that hot reload watches (empty when it is off)."""
        return [path for watcher in self._watchers[:1] for path in watcher.paths]

    def _watch(self) -> None:
        code = sorted({path for pool in self.pools for path in _code_of(pool.config)})
        self._watchers.append(Watcher(code, self._code_changed).start())
        self._watchers.append(Watcher(self._stack_sources(), self._stack_changed).start())

    def _stack_sources(self) -> tuple[Path, ...]:
        """Where the running stack is defined: our app's sources, or another stack's template itself."""
        spec = self.deployed.spec if self.deployed is not None else None
        if spec is not None and spec.stack_name != STACK_ID and self._template is not None:
            return (self._template,)
        return self.options.stack_sources

    def _code_changed(self, changed: list[Path]) -> None:
        forget_bytecode(changed)
        for pool in self.pools:  # only the functions running that code: --handler's edit leaves PaymentProcessor be
            code = _code_of(pool.config)
            if any(path == root or root in path.parents for path in changed for root in code):
                pool.retire()
        self.reloads += 1
        self.progress(
            f"code changed ({_shown(changed)}): the next invocations start new environments with it (cold starts)"
        )

    def _stack_changed(self, changed: list[Path]) -> None:
        self.progress(
            f"the stack changed ({_shown(changed)}): restart `orderflow up` to apply it "
            "(the running stack keeps the template it started with)"
        )

    def stop(self, *, on_drained: Callable[[], None] | None = None) -> None:
        """Stop polling, let the batches in flight finish (bounded by the function timeout), stop.

        ``on_drained`` runs once nothing is in flight, while the emulator still answers (to
        report what the stop is about to discard).
        """
        bound = max([pool.config.timeout for pool in self.pools], default=0) + 5
        for mapping in self.mappings:
            mapping.stop(timeout=bound)
        for pipe in self.pipes:  # after the mappings: what their last batches wrote is published too
            pipe.stop(drain=True, timeout=bound)
        try:
            if on_drained is not None and self.deployed is not None:
                on_drained()
        finally:
            self._shut_down(kill=False)

    def kill(self) -> None:
        """Stop at once: environments are killed, batches in flight are abandoned (SQS redelivers them)."""
        for mapping in self.mappings:
            mapping.stop(timeout=0)
        for pipe in self.pipes:
            pipe.stop(drain=False, timeout=0)
        self._shut_down(kill=True)

    def _shut_down(self, *, kill: bool) -> None:
        for watcher in self._watchers:
            watcher.stop()
        self._watchers = []
        for pool in self.pools:
            pool.shutdown(kill=kill)
        self.pools = []
        if self.alarm_monitor is not None:
            self.alarm_monitor.stop()
        for logs in self.function_logs:
            try:
                logs.stop()  # what the last invocations wrote
            except Exception:
                log.warning("could not send the last log events", exc_info=True)
        self.function_logs = []
        if self._sweeper is not None:
            self._sweeper.stop()
            self._sweeper = None
        if self.payment_provider is not None:
            self.payment_provider.stop()
        self.emulator.stop()
        self._scratch.cleanup()

    def held(self) -> dict[str, int]:
        """What the emulator holds now (all of it in memory): stored items and messages by queue."""
        if self.deployed is None:
            return {}
        sqs, dynamodb = self.emulator.sqs(), self.emulator.dynamodb()
        held = {}
        for name in self.deployed.tables.values():
            held[f"items in {name}"] = int(dynamodb.describe_table(TableName=name)["Table"]["ItemCount"])
        for queue in self.deployed.queues.values():
            attributes = sqs.get_queue_attributes(
                QueueUrl=queue.url,
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            held[f"messages in {queue.name}"] = sum(int(value) for value in attributes.values())
        return held

    def faults(self) -> Counter[str]:
        """Faults injected so far (``--chaos``), by kind."""
        return count_faults(self.chaos_journal)

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def outputs(self) -> dict[str, str]:
        if self.deployed is None:
            raise RuntimeError("the stack is not started: use `with LocalStack(...) as stack:`")
        return self.deployed.outputs()

    @property
    def spec(self) -> StackSpec:
        """The template the stack was created from."""
        if self.deployed is None:
            raise RuntimeError("the stack is not started: use `with LocalStack(...) as stack:`")
        return self.deployed.spec

    @property
    def endpoint(self) -> str:
        return self.emulator.endpoint


def function_config(
    function: FunctionSpec,
    deployed: DeployedStack,
    options: StackOptions,
    *,
    emulator_environment: dict[str, str],
    credentials: RoleCredentials | None = None,
    chaos_journal: Path | None = None,
    capture_dir: str | None = None,
) -> FunctionConfig:
    """How the stack runs ``function``'s execution environments: the template's environment resolved to
    the deployed resources, beside the emulator's (``emulator_environment``) and its role's
    ``credentials``, with the handler, timeout and memory ``options`` give or the template's, and its
    log group. Faults are injected when ``options`` asks for them and a ``chaos_journal`` is given.

    The local stack runs each mapping's function with it; `orderflow up` records it for every
    function, so that `orderflow invoke` runs one invocation as the stack would.
    """
    timeout = options.function_timeout or function.timeout
    handler = _handler(function, deployed, options)
    environment = {
        **deployed.function_environment(function),
        **emulator_environment,
        **(credentials.environment() if credentials else {}),
        "AWS_LAMBDA_FUNCTION_NAME": function.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
        "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon locally
        # Where its code is, when the template says (a foreign app's asset folder under cdk.out).
        **({TASK_ROOT: str(function.code_path)} if function.code_path and handler == function.handler else {}),
        **options.function_environment,
    }
    chaos = (
        ChaosConfig(
            rate=options.chaos_rate,
            seed=options.chaos_seed,
            journal=str(chaos_journal),
            function_timeout=timeout,
            only=options.chaos_only,
        )
        if options.chaos_rate and chaos_journal is not None
        else None
    )
    return FunctionConfig(
        name=function.name,
        handler=handler,
        timeout=timeout,
        memory_size=function.memory_size,
        environment=environment,
        log_path=str(options.log_path) if options.log_path else None,
        chaos=chaos,
        ddb_latency_ms=options.ddb_latency_ms,
        log_group=function.log_group,
        capture_dir=capture_dir,
    )


def _handler(function: FunctionSpec, deployed: DeployedStack, options: StackOptions) -> str:
    """``options.handler`` replaces the order processor's handler (every function running it); the
    stack's other services keep theirs. In a template without it (another app's), it replaces all."""
    if not options.handler:
        return function.handler
    ours = any(spec.handler == ORDER_HANDLER for spec in deployed.spec.functions.values())
    return options.handler if not ours or function.handler == ORDER_HANDLER else function.handler


def _code_of(config: FunctionConfig) -> list[Path]:
    """Where a function's code is: its own code folder (a foreign template's asset), or where its
    handler's module is found (our src/orderflow/, or --handler's)."""
    if TASK_ROOT in config.environment:
        return [Path(config.environment[TASK_ROOT])]
    return handler_sources(config.handler)


def _write_throttles(journal: Path) -> Callable[[], list[tuple[float, str]]]:
    """The throttles chaos injected into the table's writes: DynamoDB's WriteThrottleEvents."""
    reader = FaultReader(journal, frozenset({"ddb_throttle"}))
    return lambda: [(at, operation) for at, _kind, operation in reader()]


def _shown(paths: list[Path]) -> str:
    names = []
    for path in paths[:3]:
        try:
            names.append(str(path.relative_to(Path.cwd())))
        except ValueError:
            names.append(str(path))
    return ", ".join(names) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
