"""The six catalogues of the quality benchmark, one domain and one payload shape each."""

from __future__ import annotations

from quality_catalogues import RENDERERS, A, CatalogueSpec, P, V

_SEV = ("info", "warning", "critical")

INFRA = CatalogueSpec(
    name="infra_monitoring",
    domain="infrastructure monitoring",
    shape="NestJS camelCase DTOs: conditionTypes/actionTypes/triggerTypes/availableVariables, "
    "entries keyed by `code`, params as `paramsSchema` lists with `isRequired`, variables keyed "
    "by `path` with `type` and `unit`",
    conditions=("THRESHOLD", "STATUS_CHECK", "COMPOSITE"),
    triggers=(
        ("ON_METRIC_UPDATE", "A host or service metric was sampled"),
        ("ON_HEALTH_CHECK", "A health probe finished"),
        ("ON_SCHEDULE", "Cron schedule"),
    ),
    actions=(
        A(
            "PAGE_ONCALL",
            "Page the on-call engineer of a team",
            (
                P("team"),
                P("message"),
                P("severity", enum=_SEV),
                P("escalate_after_minutes", "integer", required=False),
            ),
        ),
        A("POST_SLACK_MESSAGE", "Post a message to a Slack channel", (P("channel"), P("text"))),
        A("SEND_EMAIL", "Send an email", (P("to", "email"), P("subject"), P("body"))),
        A(
            "RESTART_SERVICE",
            "Restart a service",
            (P("service"), P("drain_seconds", "integer", required=False)),
        ),
        A("SCALE_OUT", "Add replicas to a service", (P("service"), P("replicas", "integer"))),
        A(
            "OPEN_INCIDENT",
            "Open an incident",
            (P("title"), P("severity", enum=_SEV), P("team", required=False)),
        ),
    ),
    variables=(
        V("metrics.cpu_percent", "number", "CPU usage", "percent"),
        V("metrics.memory_percent", "number", "Memory usage", "percent"),
        V("metrics.db_memory_percent", "number", "Database memory usage", "percent"),
        V("metrics.disk_free_gb", "number", "Free disk space", "GB"),
        V("metrics.p95_latency_ms", "number", "95th percentile response latency", "ms"),
        V("metrics.error_rate", "number", "Share of requests that failed (0-1)", "fraction"),
        V("metrics.queue_depth", "integer", "Messages waiting in the queue", None),
        V("backup.age_hours", "number", "Time since the last successful backup", "hours"),
        V("cert.days_to_expiry", "integer", "Days until the TLS certificate expires", "days"),
        V("service.status", "string", "Service state", None),
        V("service.name", "string", "Service name", None),
    ),
    render=RENDERERS["infra"],
)

ECOMMERCE = CatalogueSpec(
    name="ecommerce_orders",
    domain="e-commerce orders",
    shape="`{success, data: {capabilities: …}}` wrapper; actions and triggers as dicts keyed by "
    "name, params as name→spec dicts; variables as objects with `name`/`type`/`unit`",
    conditions=("THRESHOLD", "EQUALS", "COMPOSITE"),
    triggers=(
        ("ON_ORDER_CREATED", "A new order was placed"),
        ("ON_PAYMENT_EVENT", "A payment was authorised, captured or failed"),
        ("ON_INVENTORY_CHANGE", "Stock level changed"),
        ("ON_SHIPMENT_UPDATE", "A carrier reported a shipment status"),
        ("ON_CART_UPDATED", "A shopping cart changed or went idle"),
    ),
    actions=(
        A("HOLD_ORDER", "Put an order on hold for manual review", (P("order_id"), P("reason"))),
        A("REFUND_ORDER", "Refund an order", (P("order_id"), P("amount", "number"))),
        A(
            "NOTIFY_CUSTOMER",
            "Email or text the customer",
            (P("template"), P("channel", enum=("email", "sms"))),
        ),
        A(
            "CREATE_PURCHASE_ORDER",
            "Reorder stock from the supplier",
            (P("sku"), P("quantity", "integer")),
        ),
        A("POST_TO_CHANNEL", "Post a message to a team chat channel", (P("channel"), P("message"))),
        A(
            "FLAG_FOR_FRAUD_REVIEW",
            "Send the order to the fraud team's queue",
            (P("order_id"), P("priority", enum=("low", "normal", "urgent"))),
        ),
    ),
    variables=(
        V("order.id", "string", "Order id"),
        V("order.total", "number", "Order total", "EUR"),
        V("order.items_count", "integer", "Number of line items"),
        V("order.country", "string", "Shipping country (ISO code)"),
        V("payment.fraud_score", "number", "Fraud probability from 0 to 1", "fraction"),
        V("payment.status", "string", "Payment state", None, ("authorised", "captured", "failed")),
        V("inventory.sku", "string", "Stock keeping unit"),
        V("inventory.stock_level", "integer", "Units in stock", "units"),
        V("shipment.delay_hours", "number", "Delay against the promised delivery", "hours"),
        V("cart.idle_minutes", "number", "Minutes since the cart last changed", "minutes"),
    ),
    render=RENDERERS["ecommerce"],
)

SECURITY = CatalogueSpec(
    name="security_auth",
    domain="security / authentication",
    shape="snake_case sections; actions with `parameters` lists; variables as a nested tree "
    "`{auth: {failed_logins: {type, description}}}` with units on some leaves",
    conditions=("THRESHOLD", "MATCH", "COMPOSITE"),
    triggers=(
        ("ON_LOGIN_EVENT", "A login attempt succeeded or failed"),
        ("ON_API_REQUEST", "An API request was received"),
        ("ON_DATA_EXPORT", "A user exported data"),
    ),
    actions=(
        A("LOCK_ACCOUNT", "Lock a user account", (P("user_id"), P("minutes", "integer"))),
        A("BLOCK_IP", "Block a source IP at the firewall", (P("ip"), P("minutes", "integer"))),
        A("REQUIRE_MFA", "Force a step-up MFA challenge", (P("user_id"),)),
        A("REVOKE_TOKENS", "Revoke all sessions and tokens of a user", (P("user_id"),)),
        A(
            "ALERT_SECURITY_TEAM",
            "Alert the security operations team",
            (P("team"), P("severity", enum=("low", "medium", "high", "critical")), P("summary")),
        ),
        A(
            "OPEN_CASE",
            "Open an investigation case in the SIEM",
            (P("title"), P("queue", required=False)),
        ),
    ),
    variables=(
        V("auth.failed_logins", "integer", "Failed logins in the last 10 minutes"),
        V("auth.user_id", "string", "User id"),
        V("auth.source_ip", "string", "Source IP address"),
        V("auth.country", "string", "Country of the source IP"),
        V("auth.risk_score", "number", "Risk score 0-100", "percent"),
        V("session.idle_minutes", "number", "Idle time of the session", "minutes"),
        V("token.age_days", "number", "Age of the API token", "days"),
        V("api.requests_per_minute", "number", "Request rate of the client", "requests/min"),
        V("export.size_mb", "number", "Size of the exported data", "MB"),
        V("export.rows", "integer", "Rows exported"),
    ),
    render=RENDERERS["security"],
)

HR_FINANCE = CatalogueSpec(
    name="hr_finance_approvals",
    domain="HR / finance approvals",
    shape="`{data: …}` wrapper; actions named by `type` (with a `category`) and JSON-Schema "
    "`inputSchema` params (required, additionalProperties false); variables as "
    "`contextVariables` with `dataType` and `unit`",
    conditions=("THRESHOLD", "EQUALS", "COMPOSITE"),
    triggers=(
        ("ON_EXPENSE_SUBMITTED", "An expense report was submitted"),
        ("ON_LEAVE_REQUESTED", "An employee requested leave"),
        ("ON_INVOICE_RECEIVED", "A supplier invoice arrived"),
        ("ON_MONTH_END", "Month-end close"),
    ),
    actions=(
        A(
            "REQUEST_APPROVAL",
            "Ask an approver to approve the request",
            (
                P("approver_role", enum=("manager", "director", "cfo", "hr")),
                P("due_in_days", "integer", required=False),
            ),
        ),
        A("AUTO_APPROVE", "Approve without review", (P("note", required=False),)),
        A("REJECT_REQUEST", "Reject the request with a reason", (P("reason"),)),
        A(
            "NOTIFY_USER",
            "Notify a person or team",
            (
                P("recipient", desc="person, team or email"),
                P("message"),
                P("channel", enum=("email", "slack", "teams")),
            ),
        ),
        A(
            "SCHEDULE_PAYMENT",
            "Schedule an invoice payment",
            (P("invoice_id"), P("pay_in_days", "integer")),
        ),
        A("CREATE_HR_TICKET", "Open a ticket for HR", (P("summary"), P("team", required=False))),
    ),
    variables=(
        V("expense.amount", "number", "Expense total", "EUR"),
        V("expense.category", "string", "Expense category", None, ("travel", "meals", "software")),
        V("leave.days", "number", "Days of leave requested", "days"),
        V("leave.notice_days", "integer", "Days between request and first day off", "days"),
        V("invoice.id", "string", "Invoice id"),
        V("invoice.amount", "number", "Invoice total", "EUR"),
        V("invoice.overdue_days", "integer", "Days past the due date", "days"),
        V("budget.utilisation", "number", "Share of the budget spent (0-1)", "fraction"),
        V("employee.tenure_months", "integer", "Months since hire", "months"),
        V("employee.overtime_hours", "number", "Overtime this week", "hours"),
    ),
    render=RENDERERS["hr_finance"],
)

IOT = CatalogueSpec(
    name="iot_manufacturing",
    domain="IoT / manufacturing",
    shape="entries keyed by `key` (`events`, `actions` with `args`), value types as `dataType`, "
    "enum values as `options`; several variables are fractions (0-1)",
    conditions=("THRESHOLD", "RANGE", "COMPOSITE"),
    triggers=(
        ("ON_SENSOR_READING", "A sensor reported a value"),
        ("ON_MACHINE_STATE", "A machine changed state"),
        ("ON_SHIFT_END", "A production shift ended"),
    ),
    actions=(
        A("STOP_LINE", "Stop a production line", (P("line_id"), P("reason"))),
        A("SET_SETPOINT", "Change a controller setpoint", (P("device_id"), P("value", "number"))),
        A(
            "CREATE_WORK_ORDER",
            "Open a maintenance work order",
            (P("asset_id"), P("priority", enum=("P1", "P2", "P3")), P("description")),
        ),
        A("NOTIFY_SHIFT_LEAD", "Notify the shift lead of a team", (P("team"), P("message"))),
        A(
            "LOG_EVENT",
            "Write to the plant event log",
            (P("message"), P("level", enum=("info", "warning", "error"))),
        ),
    ),
    variables=(
        V("sensor.humidity", "number", "Relative humidity as a fraction (0-1)", "fraction"),
        V("sensor.temperature_c", "number", "Temperature", "celsius"),
        V("sensor.pressure_bar", "number", "Line pressure", "bar"),
        V("machine.vibration_mm_s", "number", "Vibration velocity", "mm/s"),
        V("machine.spindle_load", "number", "Spindle load as a fraction (0-1)", "fraction"),
        V("machine.downtime_seconds", "number", "Time stopped in the current stop", "seconds"),
        V("machine.id", "string", "Machine id"),
        V("machine.state", "string", "Machine state", None, ("running", "idle", "fault")),
        V("line.oee", "number", "Overall equipment effectiveness (0-1)", "fraction"),
        V("line.id", "string", "Line id"),
        V("tank.level_litres", "number", "Fill level of the tank", "litres"),
        V("device.battery", "number", "Battery charge as a fraction (0-1)", "fraction"),
    ),
    render=RENDERERS["iot"],
)

SUPPORT = CatalogueSpec(
    name="support_ticketing",
    domain="customer support / ticketing",
    shape="lists of names (conditionTypes, triggers, each action's params), variables keyed by "
    "`variable` with `valueType`, `unit` and `values`",
    conditions=("THRESHOLD", "EQUALS", "COMPOSITE"),
    triggers=(("ON_TICKET_CREATED", ""), ("ON_TICKET_UPDATED", ""), ("ON_SLA_TICK", "")),
    actions=(
        A(
            "ASSIGN_TICKET",
            "Assign the ticket to a queue",
            (P("queue", required=False), P("assignee", required=False)),
        ),
        A("SET_PRIORITY", "Change the ticket priority", (P("priority", required=False),)),
        A(
            "ESCALATE_TICKET",
            "Escalate to a higher support tier",
            (P("tier", required=False), P("reason", required=False)),
        ),
        A(
            "SEND_SLACK_ALERT",
            "Alert a Slack channel",
            (P("channel", required=False), P("text", required=False)),
        ),
        A("EMAIL_CUSTOMER", "Email the customer a template", (P("template", required=False),)),
        A("ADD_TAG", "Tag the ticket", (P("tag", required=False),)),
    ),
    variables=(
        V("ticket.age_hours", "number", "Time since the ticket was opened", "hours"),
        V("ticket.first_response_minutes", "number", "Time to first agent reply", "minutes"),
        V(
            "ticket.priority",
            "string",
            "Ticket priority",
            None,
            ("low", "normal", "high", "urgent"),
        ),
        V(
            "ticket.channel",
            "string",
            "Where the ticket came from",
            None,
            ("email", "chat", "phone"),
        ),
        V("ticket.reopen_count", "integer", "Times the ticket was reopened"),
        V("customer.tier", "string", "Customer plan", None, ("free", "pro", "enterprise")),
        V("customer.csat", "number", "Satisfaction over the last 90 days (0-1)", "fraction"),
        V("sla.remaining_seconds", "number", "Time left before the SLA is breached", "seconds"),
        V("queue.open_tickets", "integer", "Open tickets in the ticket's queue"),
    ),
    render=RENDERERS["support"],
    typed_params=False,
)

CATALOGUES: tuple[CatalogueSpec, ...] = (INFRA, ECOMMERCE, SECURITY, HR_FINANCE, IOT, SUPPORT)
