// behavior.h — the public API in one include: nodes, processes, messages, supervisors.
#pragma once

#include "behavior/actor.h"
#include "behavior/body.h"
#include "behavior/durable.h"
#include "behavior/id_builder.h"
#include "behavior/inbox.h"
#include "behavior/logging.h"
#include "behavior/message.h"
#include "behavior/node.h"
#include "behavior/options.h"
#include "behavior/pid.h"
#include "behavior/reply.h"
#include "behavior/router.h"
#include "behavior/status.h"
#include "behavior/supervisor.h"
#include "behavior/task.h"
