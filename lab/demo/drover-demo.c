/*
 * drover-demo: the demo service of the drover.fleet lab.
 *
 * A small HTTP/1.1 server, linked statically so it runs in a rootfs that holds nothing else but busybox.
 * One thread per connection with keep-alive: thousands of requests per second on one core, where busybox
 * httpd with CGI forks and execs a shell for every request (about 1,700 req/s and no keep-alive).
 *
 *   GET /ready     200 "ready" once DROVER_READY_DELAY_MS have passed since start and unless set to 0 at runtime
 *   GET /health    200 "ok" unless set to unhealthy at runtime; 503 otherwise
 *   GET /control   show, or change with a query, the runtime behaviour of this instance:
 *                  latency_ms=N (0..60000), error_rate=F (0..1), ready=0|1, healthy=0|1
 *   anything else  after the configured latency: 200 {"version", "instance", "path"}, or 500 at error_rate
 *
 * Environment: DROVER_VERSION (baked into the image), DROVER_INSTANCE (default: the hostname),
 * DROVER_PORT (default 8080), DROVER_LATENCY_MS, DROVER_ERROR_RATE, DROVER_READY_DELAY_MS.
 * It runs as PID 1: SIGTERM and SIGINT stop accepting, let requests in flight finish (at most 2 s) and exit 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define BUFFER_SIZE 16384
#define MAX_LATENCY_MS 60000
#define DRAIN_TIMEOUT_MS 2000
#define IDLE_TIMEOUT_S 60
#define RATE_SCALE 1000000

static char version[64] = "dev";
static char instance[128] = "unknown";
static int listen_fd = -1;
static long long started_ms;
static long long ready_delay_ms;
static atomic_int latency_ms;
static atomic_int error_rate_ppm; /* error rate in parts per million */
static atomic_int ready_flag = 1;
static atomic_int healthy_flag = 1;
static atomic_int draining;
static atomic_int in_flight;

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

/* xorshift64*: one state per connection thread, so no lock and no shared rand() state. */
static unsigned long long next_random(unsigned long long *state) {
    unsigned long long x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static int send_all(int fd, const char *data, size_t length) {
    while (length > 0) {
        ssize_t sent = send(fd, data, length, MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        data += sent;
        length -= (size_t)sent;
    }
    return 0;
}

/* Copies `text` into `out` as the inside of a JSON string, cut to fit. */
static void json_escape(const char *text, size_t text_length, char *out, size_t out_size) {
    size_t used = 0;
    for (size_t i = 0; i < text_length && used + 7 < out_size; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '"' || c == '\\') {
            out[used++] = '\\';
            out[used++] = (char)c;
        } else if (c < 0x20) {
            used += (size_t)snprintf(out + used, out_size - used, "\\u%04x", c);
        } else {
            out[used++] = (char)c;
        }
    }
    out[used] = '\0';
}

static int respond(int fd, int status, const char *reason, const char *content_type, const char *body, int keep_alive,
                   int head_only) {
    char header[512];
    size_t body_length = strlen(body);
    int header_length = snprintf(header, sizeof header,
                                 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                                 "X-Drover-Version: %s\r\nX-Drover-Instance: %s\r\nConnection: %s\r\n\r\n",
                                 status, reason, content_type, body_length, version, instance,
                                 keep_alive ? "keep-alive" : "close");
    if (header_length < 0 || (size_t)header_length >= sizeof header) return -1;
    if (head_only) return send_all(fd, header, (size_t)header_length);
    char response[BUFFER_SIZE];
    if ((size_t)header_length + body_length <= sizeof response) {
        memcpy(response, header, (size_t)header_length);
        memcpy(response + header_length, body, body_length);
        return send_all(fd, response, (size_t)header_length + body_length);
    }
    if (send_all(fd, header, (size_t)header_length) < 0) return -1;
    return send_all(fd, body, body_length);
}

static int query_value(const char *query, const char *name, char *value, size_t value_size) {
    size_t name_length = strlen(name);
    const char *cursor = query;
    while (cursor && *cursor) {
        if (strncmp(cursor, name, name_length) == 0 && cursor[name_length] == '=') {
            const char *start = cursor + name_length + 1;
            size_t length = strcspn(start, "&");
            if (length >= value_size) return -1;
            memcpy(value, start, length);
            value[length] = '\0';
            return 1;
        }
        cursor = strchr(cursor, '&');
        if (cursor) cursor++;
    }
    return 0;
}

static int parse_int(const char *text, long minimum, long maximum, long *out) {
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno || end == text || *end || value < minimum || value > maximum) return -1;
    *out = value;
    return 0;
}

static int parse_rate(const char *text, int *ppm) {
    char *end;
    errno = 0;
    double value = strtod(text, &end);
    if (errno || end == text || *end || !(value >= 0.0 && value <= 1.0)) return -1;
    *ppm = (int)(value * RATE_SCALE + 0.5);
    return 0;
}

static void settings_json(char *out, size_t size) {
    snprintf(out, size,
             "{\"version\": \"%s\", \"instance\": \"%s\", \"latency_ms\": %d, \"error_rate\": %.6g, "
             "\"ready\": %s, \"healthy\": %s}\n",
             version, instance, atomic_load(&latency_ms), atomic_load(&error_rate_ppm) / (double)RATE_SCALE,
             atomic_load(&ready_flag) ? "true" : "false", atomic_load(&healthy_flag) ? "true" : "false");
}

/* Applies every setting of the query, or none when one of them is invalid. */
static int apply_control(const char *query, char *error, size_t error_size) {
    char value[64];
    long number;
    int found, new_rate = atomic_load(&error_rate_ppm);
    long new_latency = atomic_load(&latency_ms), new_ready = atomic_load(&ready_flag),
         new_healthy = atomic_load(&healthy_flag);
    if ((found = query_value(query, "latency_ms", value, sizeof value)) != 0) {
        if (found < 0 || parse_int(value, 0, MAX_LATENCY_MS, &new_latency) < 0) {
            snprintf(error, error_size, "latency_ms must be an integer from 0 to %d", MAX_LATENCY_MS);
            return -1;
        }
    }
    if ((found = query_value(query, "error_rate", value, sizeof value)) != 0) {
        if (found < 0 || parse_rate(value, &new_rate) < 0) {
            snprintf(error, error_size, "error_rate must be a number from 0 to 1");
            return -1;
        }
    }
    if ((found = query_value(query, "ready", value, sizeof value)) != 0) {
        if (found < 0 || parse_int(value, 0, 1, &number) < 0) {
            snprintf(error, error_size, "ready must be 0 or 1");
            return -1;
        }
        new_ready = number;
    }
    if ((found = query_value(query, "healthy", value, sizeof value)) != 0) {
        if (found < 0 || parse_int(value, 0, 1, &number) < 0) {
            snprintf(error, error_size, "healthy must be 0 or 1");
            return -1;
        }
        new_healthy = number;
    }
    atomic_store(&latency_ms, (int)new_latency);
    atomic_store(&error_rate_ppm, new_rate);
    atomic_store(&ready_flag, (int)new_ready);
    atomic_store(&healthy_flag, (int)new_healthy);
    return 0;
}

static int handle_request(int fd, const char *method, char *target, int keep_alive, unsigned long long *random_state) {
    int head_only = strcmp(method, "HEAD") == 0;
    char *query = strchr(target, '?');
    if (query) *query++ = '\0';
    char body[1024];
    if (strcmp(target, "/ready") == 0) {
        int ready = atomic_load(&ready_flag) && now_ms() - started_ms >= ready_delay_ms;
        return respond(fd, ready ? 200 : 503, ready ? "OK" : "Service Unavailable", "text/plain",
                       ready ? "ready\n" : "not ready\n", keep_alive, head_only);
    }
    if (strcmp(target, "/health") == 0) {
        int healthy = atomic_load(&healthy_flag);
        return respond(fd, healthy ? 200 : 503, healthy ? "OK" : "Service Unavailable", "text/plain",
                       healthy ? "ok\n" : "unhealthy\n", keep_alive, head_only);
    }
    if (strcmp(target, "/control") == 0) {
        char error[128];
        if (query && apply_control(query, error, sizeof error) < 0) {
            snprintf(body, sizeof body, "{\"error\": \"%s\"}\n", error);
            return respond(fd, 400, "Bad Request", "application/json", body, keep_alive, head_only);
        }
        settings_json(body, sizeof body);
        return respond(fd, 200, "OK", "application/json", body, keep_alive, head_only);
    }
    int latency = atomic_load(&latency_ms);
    if (latency > 0) sleep_ms(latency);
    char path[600];
    json_escape(target, strlen(target), path, sizeof path);
    int rate = atomic_load(&error_rate_ppm);
    if (rate > 0 && (int)(next_random(random_state) % RATE_SCALE) < rate) {
        snprintf(body, sizeof body, "{\"version\": \"%s\", \"instance\": \"%s\", \"path\": \"%s\", \"error\": \"injected\"}\n",
                 version, instance, path);
        return respond(fd, 500, "Internal Server Error", "application/json", body, keep_alive, head_only);
    }
    snprintf(body, sizeof body, "{\"version\": \"%s\", \"instance\": \"%s\", \"path\": \"%s\"}\n", version, instance, path);
    return respond(fd, 200, "OK", "application/json", body, keep_alive, head_only);
}

static const char *header_value(const char *headers, const char *name) {
    size_t name_length = strlen(name);
    for (const char *line = headers; line && *line; line = strstr(line, "\r\n")) {
        if (line[0] == '\r') line += 2;
        if (strncasecmp(line, name, name_length) == 0 && line[name_length] == ':') {
            line += name_length + 1;
            while (*line == ' ' || *line == '\t') line++;
            return line;
        }
    }
    return NULL;
}

static void *serve_connection(void *argument) {
    int fd = (int)(long)argument;
    char buffer[BUFFER_SIZE + 1];
    size_t filled = 0;
    unsigned long long random_state = (unsigned long long)now_ms() ^ ((unsigned long long)fd << 32) ^
                                      (unsigned long long)(size_t)pthread_self();
    if (random_state == 0) random_state = 0x9E3779B97F4A7C15ULL;
    for (;;) {
        char *end_of_headers;
        buffer[filled] = '\0';
        while ((end_of_headers = strstr(buffer, "\r\n\r\n")) == NULL) {
            if (filled >= BUFFER_SIZE) {
                respond(fd, 431, "Request Header Fields Too Large", "text/plain", "headers too large\n", 0, 0);
                goto done;
            }
            ssize_t received = recv(fd, buffer + filled, BUFFER_SIZE - filled, 0);
            if (received < 0 && errno == EINTR) continue;
            if (received <= 0) goto done;
            filled += (size_t)received;
            buffer[filled] = '\0';
        }
        atomic_fetch_add(&in_flight, 1);
        *end_of_headers = '\0';
        size_t request_length = (size_t)(end_of_headers - buffer) + 4;
        char method[16], target[2048], protocol[16];
        if (sscanf(buffer, "%15s %2047s %15s", method, target, protocol) != 3) {
            respond(fd, 400, "Bad Request", "text/plain", "bad request\n", 0, 0);
            atomic_fetch_sub(&in_flight, 1);
            goto done;
        }
        const char *connection = header_value(buffer, "Connection");
        int keep_alive = strcmp(protocol, "HTTP/1.1") == 0;
        if (connection && strncasecmp(connection, "close", 5) == 0) keep_alive = 0;
        if (connection && strncasecmp(connection, "keep-alive", 10) == 0) keep_alive = 1;
        /* Request bodies are read and ignored; chunked bodies are not supported, so such a connection closes. */
        const char *content_length = header_value(buffer, "Content-Length");
        long long body_length = content_length ? atoll(content_length) : 0;
        if (header_value(buffer, "Transfer-Encoding") || body_length < 0) keep_alive = 0;
        if (atomic_load(&draining)) keep_alive = 0;
        int failed = handle_request(fd, method, target, keep_alive, &random_state) < 0;
        atomic_fetch_sub(&in_flight, 1);
        if (failed || !keep_alive) goto done;
        size_t leftover = filled - request_length;
        long long skip = body_length < (long long)leftover ? body_length : (long long)leftover;
        memmove(buffer, buffer + request_length + skip, leftover - (size_t)skip);
        filled = leftover - (size_t)skip;
        body_length -= skip;
        while (body_length > 0) {
            char discard[4096];
            ssize_t received = recv(fd, discard, body_length < (long long)sizeof discard ? (size_t)body_length : sizeof discard, 0);
            if (received < 0 && errno == EINTR) continue;
            if (received <= 0) goto done;
            body_length -= received;
        }
    }
done:
    close(fd);
    return NULL;
}

static void *accept_loop(void *unused) {
    (void)unused;
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attributes, 128 * 1024);
    struct timeval idle = {IDLE_TIMEOUT_S, 0};
    int one = 1;
    for (;;) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (atomic_load(&draining)) return NULL;
            if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE) {
                if (errno == EMFILE || errno == ENFILE) sleep_ms(10);
                continue;
            }
            perror("drover-demo: accept");
            return NULL;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &idle, sizeof idle);
        pthread_t thread;
        if (pthread_create(&thread, &attributes, serve_connection, (void *)(long)fd) != 0) close(fd);
    }
}

static void copy_env(const char *name, char *out, size_t size) {
    const char *value = getenv(name);
    if (value && *value) snprintf(out, size, "%s", value);
}

int main(void) {
    started_ms = now_ms();
    copy_env("DROVER_VERSION", version, sizeof version);
    if (gethostname(instance, sizeof instance - 1) < 0) snprintf(instance, sizeof instance, "unknown");
    copy_env("DROVER_INSTANCE", instance, sizeof instance);
    char escaped[sizeof instance];
    json_escape(instance, strlen(instance), escaped, sizeof escaped);
    snprintf(instance, sizeof instance, "%s", escaped);
    json_escape(version, strlen(version), escaped, sizeof escaped);
    snprintf(version, sizeof version, "%.63s", escaped);
    long port = 8080, number;
    const char *text;
    if ((text = getenv("DROVER_PORT")) && parse_int(text, 1, 65535, &port) < 0) {
        fprintf(stderr, "drover-demo: DROVER_PORT must be a port number, not %s\n", text);
        return 2;
    }
    if ((text = getenv("DROVER_LATENCY_MS")) && *text) {
        if (parse_int(text, 0, MAX_LATENCY_MS, &number) < 0) {
            fprintf(stderr, "drover-demo: DROVER_LATENCY_MS must be 0..%d, not %s\n", MAX_LATENCY_MS, text);
            return 2;
        }
        atomic_store(&latency_ms, (int)number);
    }
    if ((text = getenv("DROVER_ERROR_RATE")) && *text) {
        int ppm;
        if (parse_rate(text, &ppm) < 0) {
            fprintf(stderr, "drover-demo: DROVER_ERROR_RATE must be 0..1, not %s\n", text);
            return 2;
        }
        atomic_store(&error_rate_ppm, ppm);
    }
    if ((text = getenv("DROVER_READY_DELAY_MS")) && *text) {
        if (parse_int(text, 0, 3600000, &number) < 0) {
            fprintf(stderr, "drover-demo: DROVER_READY_DELAY_MS must be 0..3600000, not %s\n", text);
            return 2;
        }
        ready_delay_ms = number;
    }

    /* Signals go to this thread only, through sigwait: PID 1 gets no default action for them. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    listen_fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1, zero = 0;
    struct sockaddr_in6 address6 = {.sin6_family = AF_INET6, .sin6_port = htons((unsigned short)port),
                                    .sin6_addr = IN6ADDR_ANY_INIT};
    struct sockaddr_in address4 = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port),
                                   .sin_addr.s_addr = htonl(INADDR_ANY)};
    int bound;
    if (listen_fd >= 0) {
        /* Dual stack where IPv6 exists; plain IPv4 otherwise. */
        setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        setsockopt(listen_fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
        bound = bind(listen_fd, (struct sockaddr *)&address6, sizeof address6);
    } else {
        bound = -1;
    }
    if (bound < 0) {
        if (listen_fd >= 0) close(listen_fd);
        listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        bound = bind(listen_fd, (struct sockaddr *)&address4, sizeof address4);
    }
    if (bound < 0 || listen(listen_fd, 1024) < 0) {
        perror("drover-demo: listen");
        return 1;
    }
    fprintf(stderr, "drover-demo %s (instance %s) listening on port %ld\n", version, instance, port);

    pthread_t acceptor;
    if (pthread_create(&acceptor, NULL, accept_loop, NULL) != 0) {
        perror("drover-demo: thread");
        return 1;
    }
    int signal_number;
    while (sigwait(&stop_signals, &signal_number) != 0) {
    }
    atomic_store(&draining, 1);
    shutdown(listen_fd, SHUT_RDWR);
    long long deadline = now_ms() + DRAIN_TIMEOUT_MS;
    while (atomic_load(&in_flight) > 0 && now_ms() < deadline) sleep_ms(5);
    fprintf(stderr, "drover-demo: stopped on signal %d\n", signal_number);
    return 0;
}
