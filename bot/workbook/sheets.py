"""The workbook's sheets: header text, config field, cell kind and width of every column.

The config field of a column is the key in the section's TOML table; ``item.*`` fields of the
评分表 sheet belong to one rubric item, the rest of that sheet to the rubric itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal[
    "text",
    "list",
    "roles",
    "platform",
    "bool",
    "int",
    "decimal",
    "datetime",
    "offsets",
    "time",
    "aggregate",
    "ref",
    "refs",
]
"""How a cell is read: see ``bot.workbook.cells``. ``ref``/``refs``: one/several group names."""

NOTE = "备注"
"""The last column of every sheet: free text; a row whose note starts with 示例 is skipped."""
EXAMPLE_MARK = "示例"


@dataclass(frozen=True)
class Column:
    """One column: its header, the config field it fills, how its cells read, its width."""

    header: str
    field: str
    kind: Kind = "text"
    width: int = 14
    required: bool = False
    choices: tuple[str, ...] = ()
    """Offered as a drop-down (data validation) in the template."""


@dataclass(frozen=True)
class Sheet:
    """One sheet: its name, the config section it fills, instructions and columns."""

    name: str
    section: str
    instructions: str
    columns: tuple[Column, ...]
    example: tuple[str, ...]
    """The example row's cells, in column order (the note column is added)."""

    def column(self, field: str) -> Column:
        """The column that fills ``field``."""
        return next(c for c in self.columns if c.field == field)


ROLES = {
    "评委": "judge",
    "主持": "host",
    "校长": "principal",
    "领导": "leader",
    "组织者": "organizer",
    "管理员": "admin",
}
PLATFORMS = {"企业微信": "wecom", "钉钉": "dingtalk"}
AGGREGATES = {"平均分": "mean", "去掉最高最低分": "trimmed_mean"}
YES, NO = "是", "否"
LIST_HINT = "多个用顿号“、”或换行隔开"

PEOPLE = Sheet(
    "人员",
    "people",
    "人员：每行一人。姓名必填；角色可多个（评委、主持、校长、领导、组织者、管理员），"
    f"{LIST_HINT}。企业微信账号（通讯录里的“账号”）和钉钉ID（员工UserID）可先空着："
    "填了手机的由 edubot bind-ids 查，其余本人在聊天里发“绑定 单位 姓名”；钉钉群里@人要用手机号。",
    (
        Column("姓名", "name", required=True, width=12),
        Column("单位", "unit", width=18),
        Column("角色", "roles", "roles", width=16, choices=tuple(ROLES)),
        Column("手机", "mobile", width=14),
        Column("企业微信账号", "wecom_userid", width=16),
        Column("钉钉ID", "dingtalk_userid", width=18),
    ),
    ("申毅", "人事股", "评委", "13800000001", "shenyi", ""),
)
UNITS = Sheet(
    "单位",
    "units",
    "单位：学校、共同体、股室，每行一个。上级填另一个单位的名称（可空）。"
    "人员表的单位和材料表的提交单位都要在这里。",
    (
        Column("名称", "name", required=True, width=22),
        Column("上级", "parent", width=22),
    ),
    ("杜桥中学", "瑞泉中学共同体"),
)
GROUPS = Sheet(
    "群",
    "groups",
    "群：机器人推送消息的群。平台选企业微信或钉钉；机器人地址是群机器人的 webhook；"
    "加签密钥只有钉钉自定义机器人要填（SEC开头）；群ID可空，由管理员填写。"
    "代号可空，自动生成；组织者群填“是”的群会收到发送失败的通知。",
    (
        Column("名称", "name", required=True, width=18),
        Column("平台", "platform", "platform", required=True, width=10, choices=tuple(PLATFORMS)),
        Column("机器人地址", "webhook", width=40),
        Column("加签密钥", "secret", width=20),
        Column("群ID", "chat_id", width=20),
        Column("代号", "key", width=12),
        Column("组织者群", "organizers", "bool", width=10, choices=(YES, NO)),
    ),
    (
        "瑞泉中学会场群",
        "企业微信",
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…",
        "",
        "",
        "ruiquan",
        NO,
    ),
)
RUBRICS = Sheet(
    "评分表",
    "rubrics",
    "评分表（附件3）：每行一个评分项目。同一张表的各行“评分表”填同一个名称，"
    "几张表用不同名称区分。别名是评委发消息时的简称。小数位、计分方式、可只报总分、"
    "分差提醒只需填在每张表的第一行。",
    (
        Column("评分表", "name", required=True, width=20),
        Column("项目", "item.name", required=True, width=16),
        Column("满分", "item.max", "decimal", required=True, width=8),
        Column("别名", "item.aliases", "list", width=12),
        Column("代号", "key", width=12),
        Column("小数位", "decimals", "int", width=8),
        Column("计分方式", "aggregate", "aggregate", width=14, choices=tuple(AGGREGATES)),
        Column("可只报总分", "allow_total", "bool", width=10, choices=(YES, NO)),
        Column("分差提醒", "outlier_threshold", "decimal", width=10),
    ),
    ("学校管理论坛评分表", "工作目标", "20", "目标", "fujian3", "1", "平均分", YES, "15"),
)
VENUES = Sheet(
    "会场",
    "venues",
    "会场（附件1 活动安排表）：每行一个会场。时间写成 2022-02-13 08:00；主持、评委要在"
    f"人员表里；参与单位/选手{LIST_HINT}；群、成绩推送到填群表里的群名称；评分表填评分表的名称。"
    "提前提醒如 1小时、30分钟、1天；前一晚提醒填时刻（如 18:00），填“不提醒”则不发。",
    (
        Column("活动", "title", required=True, width=16),
        Column("时间", "starts_at", "datetime", required=True, width=18),
        Column("地点", "location", width=14),
        Column("主持", "host", width=10),
        Column("评委", "judges", "list", required=True, width=22),
        Column("参与单位/选手", "contestants", "list", required=True, width=40),
        Column("群", "group", "ref", width=16),
        Column("评分表", "rubric", required=True, width=20),
        Column("成绩推送到", "results_to", "refs", width=16),
        Column("前一晚提醒", "remind_eve", "time", width=10),
        Column("提前提醒", "remind_before", "offsets", width=12),
        Column("评完自动公布", "auto_publish", "bool", width=12, choices=(YES, NO)),
        Column("代号", "key", width=12),
    ),
    (
        "学校管理论坛",
        "2022-02-13 08:00",
        "瑞泉中学",
        "李学斌",
        "申毅、梁飞、张伟利",
        "瑞泉中学共同体、杜桥中学、尚德中学",
        "瑞泉中学会场群",
        "学校管理论坛评分表",
        "领导小组群",
        "18:00",
        "1小时",
        NO,
        "ruiquan",
    ),
)
DEADLINES = Sheet(
    "材料",
    "deadlines",
    "材料（上交材料）：每行一项。截止写成 2022-02-07 18:00；提交人/单位填人员表里的姓名"
    f"或单位表里的单位，{LIST_HINT}；提醒如 3天、1天、2小时；群是提醒发到的群；"
    "逾期通报到：截止时未交名单发到的群；只在工作日提醒填“是”则节假日的提醒提前到工作日。",
    (
        Column("名称", "title", required=True, width=14),
        Column("截止", "due", "datetime", required=True, width=18),
        Column("提交人/单位", "submitters", "list", required=True, width=36),
        Column("提醒", "remind_before", "offsets", width=16),
        Column("格式要求", "format_note", width=30),
        Column("群", "group", "ref", width=14),
        Column("别名", "aliases", "list", width=10),
        Column("逾期通报到", "escalate_to", "refs", width=14),
        Column("只在工作日提醒", "workdays_only", "bool", width=14, choices=(YES, NO)),
        Column("所属活动", "campaign", width=12),
        Column("代号", "key", width=10),
    ),
    (
        "书面报告",
        "2022-02-07 18:00",
        "瑞泉中学共同体、杜桥中学",
        "3天、1天、2小时",
        "格式见附件2",
        "校长群",
        "报告",
        "领导小组群",
        YES,
        "",
        "report",
    ),
)

SHEETS = (PEOPLE, UNITS, GROUPS, RUBRICS, VENUES, DEADLINES)
"""In the order a clerk fills them (and the order of checks: names before references)."""
SECTIONS = tuple(sheet.section for sheet in SHEETS)
"""The config sections the workbook owns; import replaces exactly these."""
